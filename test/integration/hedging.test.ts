import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { Harness, endpoint, eventually } from '../helpers/servers.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';
import type { RequestRecord } from '../../src/proxy/events.js';
import { STALLS_TO_COOL } from '../../src/endpoints/endpoint.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatsStore } from '../../src/stats/store.js';
import { recentRequests, summarize } from '../../src/stats/query.js';
import { runCli } from '../helpers/cli.js';

/**
 * #22: a stream that has not started answering can be replaced. Before its first content it is held, so a break
 * or an `event: error` there fails over cleanly; and a stream with no first content after the hedge delay is
 * raced against another endpoint, the first to answer taking the client.
 */

const h = new Harness();
afterEach(() => h.closeAll());

const MESSAGE = { model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };
const STREAM_BODY = JSON.stringify({ ...MESSAGE, stream: true });

/** Two endpoints under priority, so the first attempt always goes to `slow` and the hedge to `fast`. */
function config(slow: { url: string }, fast: { url: string }, hedge: Record<string, unknown> = { after_ms: 300 }) {
  return {
    version: 1,
    proxy: { strategy: 'priority', hedge },
    endpoints: [
      { id: 'slow', base_url: slow.url, priority: 1 },
      { id: 'fast', base_url: fast.url, priority: 2 },
    ],
  };
}

function recording(): { records: RequestRecord[]; observer: { requestFinished(r: RequestRecord): void } } {
  const records: RequestRecord[] = [];
  return { records, observer: { requestFinished: (r) => records.push(structuredClone(r)) } };
}

async function stream(url: string, body = STREAM_BODY, headers: Record<string, string> = {}): Promise<{ status: number; text: string; ms: number; endpoint: string | undefined }> {
  const t0 = performance.now();
  const res = await request(`${url}/v1/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, text, ms: performance.now() - t0, endpoint: res.headers['x-qcc-endpoint'] as string | undefined };
}

describe('the failover window reaches to the first content', () => {
  it('a reset between message_start and the first delta fails over; the client sees one clean stream', async () => {
    // The break: message_start, content_block_start and a ping, then the connection is reset (resetAfterDeltas: 0
    // after a stall resets after those events; without the stall it would reset right after the headers).
    const broken = await h.sim({ name: 'broken', behavior: { deltas: 4, stallAfterStartMs: 20, resetAfterDeltas: 0 } });
    const good = await h.sim({ name: 'good' });
    const { url, app } = await h.proxy(config(broken, good, { enabled: false }));
    const r = await stream(url);
    expect(r.status).toBe(200);
    validateAnthropicStream(r.text);
    expect(r.endpoint).toBe('fast');
    expect(app.pool.get('slow')!.failures).toBe(1);
  });

  it('an event: error after message_start fails over instead of reaching the client', async () => {
    const flaky = await h.sim({ name: 'flaky', behavior: { errorEventAfterDeltas: 0 } });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy(config(flaky, good, { enabled: false }));
    const r = await stream(url);
    expect(r.status).toBe(200);
    const events = validateAnthropicStream(r.text);
    expect(events.some((e) => e.event === 'error')).toBe(false);
    expect(r.endpoint).toBe('fast');
  });

  it('a stream that breaks after its first delta is not replayed (the client already has content)', async () => {
    const flaky = await h.sim({ name: 'flaky', behavior: { deltas: 6, resetAfterDeltas: 2 } });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy(config(flaky, good, { enabled: false }));
    const r = await stream(url);
    expect(r.status).toBe(200);
    expect(r.text.trimEnd().split('\n\n').at(-1)).toMatch(/^event: error/);
    expect(good.messageCalls).toBe(0);
  });

  it('a slow start (pings, no content) is let through after the first-byte timeout rather than failed', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { stallAfterStartMs: 600, stallPingMs: 50 } });
    const { url } = await h.proxy({ version: 1, proxy: { first_byte_timeout_ms: 150, hedge: { enabled: false } }, endpoints: [endpoint('slow', slow)] });
    const t0 = performance.now();
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: STREAM_BODY, headers: { 'content-type': 'application/json' } });
    // The hold ended at the first ping past 150 ms: the client has the head long before the content at 600 ms.
    expect(performance.now() - t0).toBeLessThan(450);
    expect(res.statusCode).toBe(200);
    validateAnthropicStream(await res.body.text());
    expect(performance.now() - t0).toBeGreaterThan(550);
  });
});

describe('hedged first tokens', () => {
  it('a request stalled before its first byte is answered by the hedge after about the delay; the loser is closed, not failed', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { latencyMs: 30_000 } });
    const fast = await h.sim({ name: 'fast' });
    const { records, observer } = recording();
    const { url, app } = await h.proxy(config(slow, fast), { observer });
    const r = await stream(url);
    expect(r.status).toBe(200);
    validateAnthropicStream(r.text);
    expect(r.endpoint).toBe('fast');
    expect(r.ms).toBeGreaterThan(280);
    expect(r.ms).toBeLessThan(2_000);
    await eventually(() => slow.abortedResponses === 1); // the stalled request's socket was closed
    const e = app.pool.get('slow')!;
    expect(e.failures).toBe(0);
    expect(e.breaker.state).toBe('closed');
    expect(e.stalls).toBe(1);
    expect(e.inflight).toBe(0);
    await eventually(() => records.length === 1);
    const rec = records[0]!;
    expect(rec.hedge).toMatchObject({ outcome: 'won', afterMs: 300, loserTokensEstimated: true });
    expect(rec.hedge!.loserTokens).toBeGreaterThan(0);
    expect(rec.attempts).toMatchObject([{ endpointId: 'slow', lost: true }, { endpointId: 'fast', hedge: true, status: 200 }]);
    expect(rec.firstContentMs).toBeGreaterThan(280);
  });

  it('a request stalled after message_start is hedged too, and the loser reported its input tokens', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { stallAfterStartMs: 30_000, usage: { input_tokens: 1234 } } });
    const fast = await h.sim({ name: 'fast' });
    const { records, observer } = recording();
    const { url } = await h.proxy(config(slow, fast), { observer });
    const r = await stream(url);
    validateAnthropicStream(r.text);
    expect(r.endpoint).toBe('fast');
    expect(r.ms).toBeLessThan(2_000);
    await eventually(() => slow.abortedResponses === 1);
    await eventually(() => records.length === 1);
    expect(records[0]!.hedge).toMatchObject({ outcome: 'won', loserTokens: 1234, loserTokensEstimated: false });
  });

  it('when the first attempt answers first after all, the hedge is the one stopped', async () => {
    // The primary starts answering 450 ms in; the hedge (sent at 300 ms) would need 1 s.
    const primary = await h.sim({ name: 'slow', behavior: { latencyMs: 450 } });
    const hedge = await h.sim({ name: 'fast', behavior: { latencyMs: 1_000 } });
    const { records, observer } = recording();
    const { url, app } = await h.proxy(config(primary, hedge), { observer });
    const r = await stream(url);
    validateAnthropicStream(r.text);
    expect(r.endpoint).toBe('slow');
    await eventually(() => hedge.abortedResponses === 1);
    await eventually(() => records.length === 1);
    expect(records[0]!.hedge?.outcome).toBe('lost');
    expect(records[0]!.attempts).toMatchObject([{ endpointId: 'slow', status: 200 }, { endpointId: 'fast', hedge: true, lost: true }]);
    // Only an overtaken first attempt was slow: a hedge that lost had simply started later.
    expect(app.pool.get('fast')!.stalls).toBe(0);
    expect(app.pool.get('slow')!.stalls).toBe(0);
  });

  it('a failed hedge leaves the first attempt to answer', async () => {
    const primary = await h.sim({ name: 'slow', behavior: { latencyMs: 600 } });
    const hedge = await h.sim({ name: 'fast', behavior: { status: 500 } });
    const { url } = await h.proxy(config(primary, hedge));
    const r = await stream(url);
    expect(r.status).toBe(200);
    validateAnthropicStream(r.text);
    expect(r.endpoint).toBe('slow');
  });

  it('non-streaming requests are not hedged unless configured', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { latencyMs: 700 } });
    const fast = await h.sim({ name: 'fast' });
    const { url } = await h.proxy(config(slow, fast));
    const plain = await stream(url, JSON.stringify(MESSAGE));
    expect(plain.endpoint).toBe('slow');
    expect(fast.messageCalls).toBe(0);

    const slow2 = await h.sim({ name: 'slow', behavior: { latencyMs: 30_000 } });
    const fast2 = await h.sim({ name: 'fast' });
    const { url: url2 } = await h.proxy(config(slow2, fast2, { after_ms: 300, non_streaming: true }));
    const hedged = await stream(url2, JSON.stringify(MESSAGE));
    expect(hedged.status).toBe(200);
    expect(hedged.endpoint).toBe('fast');
    expect(JSON.parse(hedged.text)).toMatchObject({ type: 'message' });
  });

  it('works through the official SDK (stream helper) with one valid stream', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { stallAfterStartMs: 30_000 } });
    const fast = await h.sim({ name: 'fast', behavior: { deltas: 10 } });
    const { url } = await h.proxy(config(slow, fast));
    const client = new Anthropic({ baseURL: url, apiKey: 'sk-client', maxRetries: 0 });
    const message = await client.messages.stream(MESSAGE).finalMessage();
    expect(message.content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('fast') });
  });

  it('repeated stalls cool the endpoint down', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { latencyMs: 30_000 } });
    const fast = await h.sim({ name: 'fast' });
    const { url, app } = await h.proxy(config(slow, fast, { after_ms: 100 }));
    for (let i = 0; i < STALLS_TO_COOL; i++) expect((await stream(url)).endpoint).toBe('fast');
    const e = app.pool.get('slow')!;
    expect(e.breaker.state).toBe('open');
    expect(e.breaker.cause).toBe('stall');
    // Cooling: the next request goes straight to the other endpoint, with no wait for a hedge.
    const r = await stream(url);
    expect(r.endpoint).toBe('fast');
    expect(r.ms).toBeLessThan(100);
    expect(slow.messageCalls).toBe(STALLS_TO_COOL);
  });

  it('hedges stop at the budget when every endpoint is slow, and every request still completes', async () => {
    // Both endpoints take 250 ms to answer; hedging at 50 ms would double the traffic without the budget.
    const a = await h.sim({ name: 'slow', behavior: { latencyMs: 250 } });
    const b = await h.sim({ name: 'fast', behavior: { latencyMs: 250 } });
    const { records, observer } = recording();
    const { url } = await h.proxy(config(a, b, { after_ms: 50, max_ratio: 0.05 }), { observer });
    const results = await Promise.all(Array.from({ length: 40 }, () => stream(url)));
    for (const r of results) {
      expect(r.status).toBe(200);
      validateAnthropicStream(r.text);
    }
    await eventually(() => records.length === 40);
    const hedged = records.filter((r) => r.hedge !== undefined).length;
    // 5 % of 40 requests, plus the three a minute always allowed.
    expect(hedged).toBeLessThanOrEqual(Math.floor(0.05 * 40) + 3);
    expect(hedged).toBeGreaterThan(0);
    expect(a.messageCalls + b.messageCalls).toBe(40 + hedged);
  });

  it('an adaptive delay follows the endpoint: quick answers make a short one, within min_ms', async () => {
    const slow = await h.sim({ name: 'slow' });
    const fast = await h.sim({ name: 'fast' });
    const { url, app } = await h.proxy(config(slow, fast, { after_ms: 'auto', min_ms: 200, max_ms: 5_000 }));
    for (let i = 0; i < 25; i++) await stream(url);
    // 25 quick answers: the p95 is a few ms, so the delay is the floor.
    slow.behavior = { latencyMs: 30_000 };
    const r = await stream(url);
    expect(r.endpoint).toBe('fast');
    expect(r.ms).toBeGreaterThan(190);
    expect(r.ms).toBeLessThan(1_500);
    expect(app.pool.get('slow')!.firstContent.get('claude-sonnet-5')!.size).toBe(25);
  });
});

describe("the client's own retry after a broken stream", () => {
  it("goes to another endpoint, even though the session's affinity pointed at the broken one", async () => {
    const a = await h.sim({ name: 'a', behavior: { deltas: 6, resetAfterDeltas: 3 } });
    const b = await h.sim({ name: 'b' });
    const { url } = await h.proxy(config(a, b, { enabled: false }));
    const session = { 'x-claude-code-session-id': 'session-1' };
    const broken = await stream(url, STREAM_BODY, session);
    expect(broken.endpoint).toBe('slow');
    expect(broken.text).toContain('event: error');
    // Claude Code sends the same request again, without streaming: it lands on the other endpoint…
    const retry = await stream(url, JSON.stringify(MESSAGE), session);
    expect(retry.endpoint).toBe('fast');
    expect(b.messageCalls).toBe(1);
    // …once: the session is not banished for good (priority sends it back to the first endpoint).
    a.behavior = {};
    const after = await stream(url, JSON.stringify(MESSAGE), session);
    expect(after.endpoint).toBe('fast'); // affinity now points at the endpoint that served the retry
  });
});

describe('hedges are visible', () => {
  it('in the request log, qcc stats, qcc logs and /metrics', async () => {
    const home = mkdtempSync(join(tmpdir(), 'qcc-hedge-stats-'));
    const slow = await h.sim({ name: 'slow', behavior: { stallAfterStartMs: 30_000, usage: { input_tokens: 500 } } });
    const fast = await h.sim({ name: 'fast' });
    const { url, app } = await h.proxy(config(slow, fast), { statsFile: join(home, 'qcc.db') });
    expect((await stream(url)).endpoint).toBe('fast'); // hedged, the hedge won
    slow.behavior = {};
    expect((await stream(url)).endpoint).toBe('slow'); // no hedge
    app.flushStats();

    const store = new StatsStore(join(home, 'qcc.db'), { readonly: true });
    const [hedged, plain] = recentRequests(store.db, { limit: 10 });
    const summary = summarize(store.db, 0, 'endpoint');
    store.close();
    expect(hedged!.hedge).toEqual({ outcome: 'won', saved_ms: expect.any(Number), loser_tokens: 500 });
    expect(hedged!.hedge!.saved_ms).toBeGreaterThanOrEqual(290);
    expect(hedged!.attempts).toMatchObject([{ endpoint: 'slow', lost: true }, { endpoint: 'fast', hedge: true, status: 200 }]);
    expect(hedged!.first_content_ms).toBeGreaterThan(290);
    expect(plain!.hedge).toBeNull();
    expect(plain!.first_content_ms).toBeLessThan(250);
    expect(summary.total.hedges).toMatchObject({ sent: 1, won: 1, win_rate: 1, loser_tokens: 500 });
    expect(summary.total.failovers).toBe(0); // a hedge is not a failover
    expect(summary.total.first_content_ms.p99).toBeGreaterThan(290);

    const table = await runCli(home, ['stats', '--since', '1h']);
    expect(table.stdout).toMatch(/hedges: 1 sent, 1 won \(100\.0%\), time saved ≥\d+ms in all, abandoned attempts may have cost 500 input tokens/);
    expect(table.stdout).toContain('FIRST CONTENT');
    const logs = await runCli(home, ['logs']);
    expect(logs.stdout).toMatch(/\[slow:lost → \+fast:200\]\s+hedge won, saved ≥\d+ms, loser ~500 tokens/);

    const metrics = await (await request(`${url}/metrics`)).body.text();
    expect(metrics).toContain('qcc_hedges_total{outcome="won"} 1');
    expect(metrics).toContain('qcc_hedge_loser_input_tokens_total 500');
    expect(metrics).toContain('qcc_stalls_total{endpoint="slow"} 1');
    expect(metrics).toMatch(/qcc_hedge_saved_seconds_total 0\.[2-9]/);
    expect(metrics).toContain('qcc_first_content_seconds_count{endpoint="fast"} 1');
    expect(metrics).not.toContain('qcc_failovers_total{endpoint="slow"}');
  });
});
