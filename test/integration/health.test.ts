import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runHealthCheck, type CheckResult } from '../../src/health/check.js';
import { HealthMonitor } from '../../src/health/monitor.js';
import { scoreChecks } from '../../src/health/score.js';
import { EndpointRuntime } from '../../src/endpoints/endpoint.js';
import { endpointSchema, healthSchema } from '../../src/config/schema.js';
import type { RequestRecord } from '../../src/proxy/events.js';
import type { SimBehavior } from '../../src/sim/behavior.js';
import { UpstreamClient } from '../../src/upstream/client.js';
import { Harness, endpoint } from '../helpers/servers.js';

const h = new Harness();
/** The upstream client the proxy itself checks endpoints with. */
const dispatcher = new UpstreamClient();
afterEach(() => h.closeAll());
afterAll(() => dispatcher.close());

const runtime = (cfg: Record<string, unknown>) => new EndpointRuntime(endpointSchema.parse(cfg));
const OPTS = { timeoutMs: 5_000, maxTokens: 16 };

async function checkAgainst(behavior: SimBehavior, extra: Record<string, unknown> = {}): Promise<CheckResult> {
  const sim = await h.sim({ name: 'sim', behavior });
  return runHealthCheck(dispatcher, runtime({ id: 'e', base_url: sim.url, ...extra }), 'claude-haiku-4-5-20251001', OPTS);
}

describe('the check', () => {
  it('passes a correct streamed answer and measures it', async () => {
    const r = await checkAgainst({ deltas: 4, deltaIntervalMs: 20 });
    expect(r).toMatchObject({ ok: true, status: 200, correct: true, usage_present: true, error: null });
    expect(r.ttft_ms).toBeGreaterThan(0);
    expect(r.total_ms).toBeGreaterThanOrEqual(r.ttft_ms!);
    expect(r.tokens_per_s).toBeGreaterThan(0);
  });

  it.each<[string, SimBehavior, RegExp]>([
    ['a wrong answer', { answer: 'Sure! Here is a poem about the sea.' }, /wrong answer/],
    ['an empty answer', { answer: '' }, /empty answer|wrong answer/],
    ['an error event mid-stream', { errorEventAfterDeltas: 1 }, /stream error/],
    ['a stream cut short', { truncateAfterDeltas: 1 }, /without message_stop/],
    ['a 500', { status: 500 }, /HTTP 500/],
    ['a 401', { status: 401 }, /HTTP 401/],
  ])('fails %s', async (_label, behavior, error) => {
    const r = await checkAgainst(behavior);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(error);
  });

  it('fails an endpoint that cannot be reached', async () => {
    const sim = await h.sim();
    await sim.close();
    const r = await runHealthCheck(dispatcher, runtime({ id: 'dead', base_url: sim.url }), 'm', OPTS);
    expect(r.ok).toBe(false);
    expect(r.status).toBeNull();
    expect(r.error).toContain('ECONNREFUSED');
  });

  it('goes through the endpoint\'s auth and model_map like live traffic', async () => {
    const sim = await h.sim({ name: 'sim', behavior: { requireKey: 'ep-key' } });
    const r = await runHealthCheck(dispatcher, runtime({ id: 'e', base_url: `${sim.url}/prefix/v1`, api_key: 'ep-key', model_map: { 'claude-haiku-4-5-20251001': 'vendor-small' } }), 'claude-haiku-4-5-20251001', OPTS);
    expect(r.ok).toBe(true);
    const sent = sim.requests.at(-1)!;
    expect(sent.path).toBe('/prefix/v1/messages');
    expect(JSON.parse(sent.body.toString()).model).toBe('vendor-small');
  });
});

describe('scores', () => {
  it('order as the measured behaviour implies: fast > slow > wrong > dead', async () => {
    const fast = await h.sim({ name: 'fast', behavior: { deltas: 4 } });
    const slow = await h.sim({ name: 'slow', behavior: { latencyMs: 1500, deltas: 4, deltaIntervalMs: 100 } });
    const wrong = await h.sim({ name: 'wrong', behavior: { answer: 'nope' } });
    const deadSim = await h.sim();
    await deadSim.close();
    const scoreOf = async (url: string) => {
      const checks: CheckResult[] = [];
      for (let i = 0; i < 2; i++) checks.push(await runHealthCheck(dispatcher, runtime({ id: 'x', base_url: url }), 'm', OPTS));
      return scoreChecks(checks)!.score;
    };
    const scores = [await scoreOf(fast.url), await scoreOf(slow.url), await scoreOf(wrong.url), await scoreOf(deadSim.url)];
    expect(scores[0]).toBeGreaterThan(scores[1]!);
    expect(scores[1]).toBeGreaterThan(scores[2]!);
    expect(scores[2]).toBeGreaterThan(scores[3]!);
    expect(scores[0]).toBeGreaterThanOrEqual(90);
    expect(scores[3]).toBe(0);
  }, 20_000);
});

describe('the monitor', () => {
  it('records a model failing on one endpoint without condemning the endpoint, and reports traffic as health checks', async () => {
    const sim = await h.sim({ name: 'partial', behavior: { failModels: ['claude-opus-4-8'] } });
    const records: RequestRecord[] = [];
    const e = runtime({ id: 'partial', base_url: sim.url, health_models: ['claude-haiku-4-5-20251001', 'claude-opus-4-8'] });
    const monitor = new HealthMonitor({
      dispatcher,
      endpoints: () => [e],
      settings: () => healthSchema.parse({}),
      now: Date.now,
      timers: { setTimeout: () => undefined, clearTimeout: () => undefined },
      random: Math.random,
      observer: { requestFinished: (r) => records.push(r) },
    });
    const results = await monitor.checkEndpoint(e);
    expect(results.map((r) => [r.model, r.ok])).toEqual([
      ['claude-haiku-4-5-20251001', true],
      ['claude-opus-4-8', false],
    ]);
    const byModel = monitor.modelHealth(e);
    expect(byModel.find((m) => m.model === 'claude-opus-4-8')!.score).toBeLessThan(byModel.find((m) => m.model === 'claude-haiku-4-5-20251001')!.score!);
    expect(e.healthScore).toBeGreaterThan(0);
    expect(records).toHaveLength(2);
    expect(records.every((r) => r.healthCheck)).toBe(true);
    expect(records[0]!.usage?.output_tokens).toBeGreaterThan(0);
  });

  it('picks models the endpoint serves', () => {
    const monitor = new HealthMonitor({
      dispatcher,
      endpoints: () => [],
      settings: () => healthSchema.parse({ models: ['claude-haiku-4-5-20251001', 'claude-sonnet-5'] }),
      now: Date.now,
      timers: { setTimeout: () => undefined, clearTimeout: () => undefined },
      random: Math.random,
    });
    expect(monitor.modelsFor(runtime({ id: 'a', base_url: 'https://x.example' }))).toEqual(['claude-haiku-4-5-20251001', 'claude-sonnet-5']);
    expect(monitor.modelsFor(runtime({ id: 'b', base_url: 'https://x.example', models: ['claude-sonnet-5', 'x'] }))).toEqual(['claude-sonnet-5']);
    expect(monitor.modelsFor(runtime({ id: 'c', base_url: 'https://x.example', models: ['vendor-only'] }))).toEqual(['vendor-only']);
  });
});

describe('the schedule (fake timers)', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  it('checks healthy endpoints every interval with jitter, at most `concurrency` at once and one per endpoint', async () => {
    const endpoints = Array.from({ length: 12 }, (_, i) => runtime({ id: `e${i}`, base_url: 'https://x.example' }));
    let running = 0;
    let peak = 0;
    const perEndpoint = new Map<string, number>();
    const checked: number[] = [];
    const monitor = new HealthMonitor({
      dispatcher,
      endpoints: () => endpoints,
      settings: () => healthSchema.parse({ interval_s: 60, concurrency: 3 }),
      now: Date.now,
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) },
      random: Math.random,
      check: async (e, model) => {
        running++;
        peak = Math.max(peak, running);
        perEndpoint.set(e.id, (perEndpoint.get(e.id) ?? 0) + 1);
        expect(perEndpoint.get(e.id)).toBe(1);
        checked.push(Date.now());
        await new Promise((r) => setTimeout(r, 5_000));
        perEndpoint.set(e.id, 0);
        running--;
        return { endpoint: e.id, model, at: Date.now(), ok: true, status: 200, ttft_ms: 100, total_ms: 5000, tokens_per_s: 10, correct: true, usage_present: true, usage: null, error: null };
      },
    });
    monitor.start();
    await vi.advanceTimersByTimeAsync(53_000);
    expect(checked).toHaveLength(0); // nothing before interval × 0.9
    await vi.advanceTimersByTimeAsync(60_000);
    expect(checked.length).toBeGreaterThanOrEqual(12);
    expect(peak).toBe(3);
    expect(Math.min(...checked)).toBeGreaterThanOrEqual(54_000);
    monitor.stop();
  });

  it('an endpoint added while running is checked at once, not after the first interval', async () => {
    const endpoints = [runtime({ id: 'old', base_url: 'https://x.example' })];
    const checked: string[] = [];
    const monitor = new HealthMonitor({
      dispatcher,
      endpoints: () => endpoints,
      settings: () => healthSchema.parse({ interval_s: 300 }),
      now: Date.now,
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) },
      random: Math.random,
      check: async (e, model) => {
        checked.push(e.id);
        return { endpoint: e.id, model, at: Date.now(), ok: true, status: 200, ttft_ms: 100, total_ms: 200, tokens_per_s: 10, correct: true, usage_present: true, usage: null, error: null };
      },
    });
    monitor.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(checked).toEqual([]); // those there at start wait their interval
    endpoints.push(runtime({ id: 'new', base_url: 'https://y.example' }));
    monitor.reschedule();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(checked).toEqual(['new']);
    expect(monitor.lastCheck('new')?.ok).toBe(true);
    monitor.stop();
  });

  it('restores an open endpoint when a periodic check passes', async () => {
    const e = runtime({ id: 'e', base_url: 'https://x.example' });
    e.breaker.open('server', 0);
    const monitor = new HealthMonitor({
      dispatcher,
      endpoints: () => [e],
      settings: () => healthSchema.parse({ interval_s: 10 }),
      now: Date.now,
      timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) },
      random: () => 0.5,
      check: async (ep, model) => ({ endpoint: ep.id, model, at: Date.now(), ok: true, status: 200, ttft_ms: 1, total_ms: 2, tokens_per_s: 1, correct: true, usage_present: true, usage: null, error: null }),
    });
    monitor.start();
    await vi.advanceTimersByTimeAsync(10_001);
    expect(e.breaker.state).toBe('closed');
    monitor.stop();
  });
});

describe('in a running proxy', () => {
  it('proxy status shows each endpoint\'s last check and score', async () => {
    const sim = await h.sim({ name: 'ok' });
    const { app } = await h.proxy({ version: 1, endpoints: [endpoint('ok', sim)] });
    await app.health.checkEndpoint(app.pool.get('ok')!);
    const status = app.status().endpoints[0]!;
    expect(status.last_check).toMatchObject({ ok: true, model: 'claude-haiku-4-5-20251001' });
    expect(status.health_score).toBeGreaterThanOrEqual(90);
  });
});
