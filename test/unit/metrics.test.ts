import { describe, expect, it } from 'vitest';
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

  it('bounds the number of series: client-chosen model names cannot grow memory forever', async () => {
    const m = new ProxyMetrics(() => [], () => new PriceTable());
    for (let i = 0; i < 800; i++) m.requestFinished(record(`model-${i}`));
    const text = await m.render();
    const models = new Set([...text.matchAll(/qcc_requests_total\{endpoint="e",model="([^"]+)"/g)].map((x) => x[1]));
    expect(models.size).toBeLessThanOrEqual(501);
    expect(models.has('other')).toBe(true);
    expect(text).toContain('qcc_requests_total{endpoint="e",model="other",status="200"} 300');
  });
});
