import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { sleep } from '../helpers/servers.js';
import { ProxyMetrics } from '../../src/stats/metrics.js';
import { PriceTable } from '../../src/stats/pricing.js';
import type { RequestRecord } from '../../src/proxy/events.js';

const record = (model: string, over: Partial<RequestRecord> = {}): RequestRecord => ({
  requestId: 'r',
  startedAt: 0,
  method: 'POST',
  path: '/v1/messages',
  model,
  stream: false,
  sessionId: undefined,
  endpointId: 'e',
  attempts: [{ endpointId: 'e', status: 200, ms: 10 }],
  status: 200,
  ttfbMs: 5,
  totalMs: 11,
  usage: { input_tokens: 3, output_tokens: 4, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  end: 'complete',
  errorCode: undefined,
  healthCheck: false,
  ...over,
});

describe('ProxyMetrics', () => {
  it('counts requests, failovers and tokens; skips health checks', async () => {
    const m = new ProxyMetrics(() => [], () => new PriceTable());
    m.requestFinished(record('claude-sonnet-5'));
    m.requestFinished(record('claude-sonnet-5', { attempts: [{ endpointId: 'x', ms: 1, error: 'connect' }, { endpointId: 'e', status: 200, ms: 9 }] }));
    m.requestFinished(record('claude-sonnet-5', { healthCheck: true }));
    const text = await m.render();
    expect(text).toContain('qcc_requests_total{endpoint="e",model="claude-sonnet-5",status="200"} 2');
    expect(text).toContain('qcc_failovers_total{endpoint="x"} 1');
    expect(text).toContain('qcc_tokens_total{endpoint="e",model="claude-sonnet-5",type="output"} 8');
    expect(text).toContain('qcc_proxy_overhead_seconds_count 2');
  });

  it('renders histograms as cumulative buckets with +Inf, _sum and _count, one series per endpoint', async () => {
    const m = new ProxyMetrics(() => [], () => new PriceTable());
    // ttfb 5 ms and 400 ms for endpoint "e", 3 s for "q\"uote" (label values are escaped).
    m.requestFinished(record('m', { ttfbMs: 5 }));
    m.requestFinished(record('m', { ttfbMs: 400 }));
    m.requestFinished(record('m', { endpointId: 'q"uote', attempts: [{ endpointId: 'q"uote', status: 200, ms: 3000 }], ttfbMs: 3000 }));
    const text = await m.render();
    const lines = text.split('\n').filter((l) => l.startsWith('qcc_upstream_ttfb_seconds'));
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="e",le="0.05"} 1');
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="e",le="0.25"} 1');
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="e",le="0.5"} 2');
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="e",le="+Inf"} 2');
    expect(lines).toContain('qcc_upstream_ttfb_seconds_count{endpoint="e"} 2');
    expect(lines.find((l) => l.startsWith('qcc_upstream_ttfb_seconds_sum{endpoint="e"}'))).toMatch(/ 0\.405$/);
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="q\\"uote",le="2.5"} 0');
    expect(lines).toContain('qcc_upstream_ttfb_seconds_bucket{endpoint="q\\"uote",le="5"} 1');
    expect(text).toContain('# TYPE qcc_upstream_ttfb_seconds histogram');
    expect(text).toContain('qcc_proxy_overhead_seconds_bucket{le="+Inf"} 3');
    // Every sample line is "name{labels} value" and every series is announced by its TYPE line.
    for (const line of text.trim().split('\n').filter((l) => l !== '')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? -?[\d.e+-]+|\w+(\{.*\})? (NaN|[+-]Inf))$/);
  });

  it('bounds the number of series: client-chosen model names cannot grow memory forever', async () => {
    const m = new ProxyMetrics(() => [], () => new PriceTable());
    for (let i = 0; i < 800; i++) m.requestFinished(record(`model-${i}`));
    const text = await m.render();
    const models = new Set([...text.matchAll(/qcc_requests_total\{endpoint="e",model="([^"]+)"/g)].map((x) => x[1]));
    expect(models.size).toBeLessThanOrEqual(501);
    expect(models.has('other')).toBe(true);
    expect(text).toContain('qcc_requests_total{endpoint="e",model="other",status="200"} 300');
  });

  it('publishes the process: CPU since it started, memory, heap, file descriptors, collections, loop busy time', async () => {
    const m = new ProxyMetrics(() => [], () => new PriceTable());
    const value = (text: string, name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      if (line === undefined) throw new Error(`no ${name} in the metrics`);
      return Number(line.split(' ')[1]);
    };
    const cpuBefore = process.cpuUsage();
    const first = await m.render();
    // From the process's start, as Prometheus means it (prom-client's own counts from when it was registered).
    expect(value(first, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual((cpuBefore.user + cpuBefore.system) / 1e6);
    expect(value(first, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 2 ** 20);
    expect(value(first, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(value(first, 'process_open_fds')).toBeGreaterThan(2);
    expect(first).toMatch(/^nodejs_heap_space_size_used_bytes\{space="old"\} \d+$/m);
    expect(first).toMatch(/^nodejs_version_info\{version="v\d+/m);
    // No event loop lag series: prom-client measures it with a 10 ms timer that would keep an idle proxy awake.
    expect(first).not.toContain('nodejs_eventloop_lag');

    expect(value(first, 'process_cpu_seconds_total')).toBeCloseTo(value(first, 'process_cpu_user_seconds_total') + value(first, 'process_cpu_system_seconds_total'), 9);

    // A synchronous 30 ms of work is 30 ms of the loop being busy.
    const busyBefore = value(first, 'qcc_event_loop_busy_seconds_total');
    const until = performance.now() + 30;
    while (performance.now() < until);
    await new Promise((r) => setImmediate(r));
    const afterWork = await m.render();
    expect(value(afterWork, 'qcc_event_loop_busy_seconds_total') - busyBefore).toBeGreaterThanOrEqual(0.029);
    // And 200 ms of waiting is neither busy time nor CPU (a counter of elapsed time would pass the line above).
    await sleep(200);
    const afterWait = await m.render();
    expect(value(afterWait, 'qcc_event_loop_busy_seconds_total') - value(afterWork, 'qcc_event_loop_busy_seconds_total')).toBeLessThan(0.1);
    expect(value(afterWait, 'process_cpu_seconds_total') - value(afterWork, 'process_cpu_seconds_total')).toBeLessThan(0.1);

    // Collections are observed for the whole process: a full one shows up as kind "major".
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const majors = (text: string) => (/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text)?.[1] ?? '0');
    const majorsBefore = Number(majors(await m.render()));
    gc();
    let text = await m.render();
    // The observer hears of a collection asynchronously.
    for (let i = 0; i < 100 && Number(majors(text)) === majorsBefore; i++) {
      await sleep(10);
      text = await m.render();
    }
    expect(Number(majors(text))).toBeGreaterThan(majorsBefore);
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    expect(text).toMatch(/^nodejs_gc_duration_seconds_bucket\{kind="major",le="\+Inf"\} \d+$/m);
  });
});
