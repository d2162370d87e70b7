import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import type { RequestRecord } from '../../src/proxy/events.js';
import type { SimBehavior } from '../../src/sim/behavior.js';
import { writeState } from '../../src/endpoints/state-store.js';
import { Harness, endpoint, eventually } from '../helpers/servers.js';

const h = new Harness();
afterEach(() => h.closeAll());

const MESSAGE = { model: 'claude-haiku-4-5-20251001', max_tokens: 32, messages: [{ role: 'user' as const, content: 'hello' }] };
const post = (url: string, body: unknown = MESSAGE, headers: Record<string, string> = {}) =>
  request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

function recorder() {
  const records: RequestRecord[] = [];
  return { records, observer: { requestFinished: (r: RequestRecord) => records.push(structuredClone(r)) } };
}

/** A port nothing listens on: a simulator started and closed again. */
async function deadUrl(): Promise<string> {
  const s = await h.sim();
  await s.close();
  return s.url;
}

describe('failover before the first byte', () => {
  it.each<[string, SimBehavior]>([
    ['529 overloaded', { status: 529 }],
    ['500 api_error', { status: 500 }],
    ['503', { status: 503 }],
    ['429 with retry-after', { status: 429, retryAfter: 3 }],
    ['401 on the endpoint\'s own key', { status: 401 }],
    ['402 billing', { status: 402 }],
    ['reset before headers', { resetBeforeHeaders: true }],
    ['stream closed before its first event', { resetAfterDeltas: 0 }],
    ['stream opening with event: error', { errorEventAfterDeltas: 0 }],
  ])('%s → served by the next endpoint', async (_label, behavior) => {
    const bad = await h.sim({ name: 'bad', behavior });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('bad', bad, { api_key: 'k-bad' }), endpoint('good', good, { priority: 1, api_key: 'k-good' })] });
    const res = await post(url, { ...MESSAGE, stream: true });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-qcc-endpoint']).toBe('good');
    expect(res.headers['x-qcc-attempts']).toBe('2');
    const text = await res.body.text();
    expect(text).toContain('event: message_stop');
    expect(text).not.toContain('event: error');
    expect(bad.messageCalls).toBe(1);
    // The replayed body is the same bytes, not an empty or consumed one.
    expect(good.requests.at(-1)!.body.equals(bad.requests.at(-1)!.body)).toBe(true);
  });

  it('fails over on a first-byte timeout', async () => {
    const hang = await h.sim({ name: 'hang', behavior: { hang: true } });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy({
      version: 1,
      proxy: { strategy: 'priority', first_byte_timeout_ms: 200 },
      endpoints: [endpoint('hang', hang), endpoint('good', good, { priority: 1 })],
    });
    const started = Date.now();
    const res = await post(url, { ...MESSAGE, stream: true });
    expect(res.headers['x-qcc-endpoint']).toBe('good');
    await res.body.dump();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it.each([400, 404, 413, 422])('returns %i as it is, without failover or blame', async (status) => {
    const bad = await h.sim({ name: 'bad', behavior: { status } });
    const good = await h.sim({ name: 'good' });
    const { url, app } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('bad', bad), endpoint('good', good, { priority: 1 })] });
    const res = await post(url);
    expect(res.statusCode).toBe(status);
    await res.body.dump();
    expect(good.messageCalls).toBe(0);
    expect(app.pool.get('bad')!.failures).toBe(0);
  });

  it('passes a 401 through when the client\'s own credentials were forwarded (no endpoint key)', async () => {
    const bad = await h.sim({ name: 'bad', behavior: { status: 401 } });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('bad', bad), endpoint('good', good, { priority: 1 })] });
    const res = await post(url);
    expect(res.statusCode).toBe(401);
    await res.body.dump();
    expect(good.messageCalls).toBe(0);
  });

  it('relays the last upstream\'s own error when every endpoint failed', async () => {
    const a = await h.sim({ name: 'a', behavior: { status: 500, errorMessage: 'first' } });
    const b = await h.sim({ name: 'b', behavior: { status: 529, errorMessage: 'second' } });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('a', a), endpoint('b', b, { priority: 1 })] });
    const res = await post(url);
    expect(res.statusCode).toBe(529);
    expect(res.headers['x-qcc-attempts']).toBe('2');
    expect(await res.body.json()).toMatchObject({ error: { type: 'overloaded_error', message: 'second' } });
  });

  it('count_tokens: a 404 everywhere becomes a local estimate, and never marks an endpoint unhealthy', async () => {
    const a = await h.sim({ name: 'a', behavior: { status: 404 } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('a', a)] });
    const res = await request(`${url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-qcc-estimated']).toBe('true');
    expect(((await res.body.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    a.behavior = { status: 500 };
    for (let i = 0; i < 10; i++) await (await request(`${url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify(MESSAGE) })).body.dump();
    expect(app.pool.get('a')!.breaker.state).toBe('closed');
  });
});

describe('breakers, keys and limits', () => {
  it('a dead endpoint gets almost nothing once its breaker opens', async () => {
    const good = await h.sim({ name: 'good' });
    const { records, observer } = recorder();
    const { url, app } = await h.proxy({ version: 1, endpoints: [{ id: 'dead', base_url: await deadUrl() }, endpoint('good', good)] }, { observer });
    for (let i = 0; i < 40; i++) {
      const res = await post(url);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    const deadAttempts = records.flatMap((r) => r.attempts).filter((a) => a.endpointId === 'dead');
    expect(deadAttempts.length).toBeLessThanOrEqual(2);
    expect(app.pool.get('dead')!.state(Date.now())).toBe('queued');
  });

  it('rotates a key pool and sets a rejected key aside', async () => {
    const sim = await h.sim({ name: 'keys', behavior: { requireKey: 'k-good' } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('keys', sim, { api_keys: ['k-bad', 'k-good'], auth_mode: 'x-api-key' })] });
    const first = await post(url);
    expect(first.statusCode).toBe(200); // the rejected key is set aside and the pool's next key serves at once
    expect(first.headers['x-qcc-attempts']).toBe('2');
    await first.body.dump();
    for (let i = 0; i < 5; i++) {
      const res = await post(url);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    expect(sim.requests.slice(1).every((r) => r.headers['x-api-key'] === 'k-good')).toBe(true);
    expect(app.pool.get('keys')!.keys.usableCount(Date.now())).toBe(1);
    expect(app.pool.get('keys')!.breaker.state).toBe('closed'); // a key problem is not an endpoint failure
  });

  it('an endpoint whose only key is rate-limited cools for retry-after while others serve', async () => {
    const limited = await h.sim({ name: 'limited', behavior: { status: 429, retryAfter: 30 } });
    const other = await h.sim({ name: 'other' });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('limited', limited, { api_key: 'k' }), endpoint('other', other, { api_key: 'k2' })] });
    for (let i = 0; i < 10; i++) await (await post(url)).body.dump();
    expect(limited.messageCalls).toBe(1);
    expect(other.messageCalls).toBe(10);
    const e = app.pool.get('limited')!;
    expect(e.state(Date.now())).toBe('cooling');
    expect(e.msUntilUsable(Date.now())).toBeGreaterThan(28_000);
  });

  it('skips a full endpoint (max_concurrency) instead of queueing behind it', async () => {
    const slow = await h.sim({ name: 'slow', behavior: { deltas: 5, deltaIntervalMs: 100 } });
    const other = await h.sim({ name: 'other' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('slow', slow, { max_concurrency: 1 }), endpoint('other', other, { priority: 1 })] });
    const inFlight = await post(url, { ...MESSAGE, stream: true });
    expect(inFlight.headers['x-qcc-endpoint']).toBe('slow');
    const second = await post(url);
    expect(second.headers['x-qcc-endpoint']).toBe('other');
    await second.body.dump();
    await inFlight.body.dump();
  });

  it('fails open on the endpoint that recovers soonest when every endpoint is open', async () => {
    const a = await h.sim({ name: 'a', behavior: { status: 529 } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('a', a)] });
    await (await post(url)).body.dump();
    expect(app.pool.get('a')!.breaker.state).toBe('open');
    a.behavior = {};
    const res = await post(url);
    expect(res.statusCode).toBe(200); // rather than a 503 from the proxy
    await res.body.dump();
  });
});

describe('routing', () => {
  it('routes by model and rewrites the model only for the endpoint that maps it', async () => {
    const vendor = await h.sim({ name: 'vendor' });
    const anthropic = await h.sim({ name: 'anthropic' });
    const { url } = await h.proxy({
      version: 1,
      endpoints: [
        endpoint('vendor', vendor, { models: ['claude-sonnet-5'], model_map: { 'claude-sonnet-5': 'vendor-model-x' } }),
        endpoint('anthropic', anthropic, { models: ['claude-opus-4-8'] }),
      ],
    });
    const sonnetBody = '{"model":"claude-sonnet-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';
    const r1 = await request(`${url}/v1/messages`, { method: 'POST', body: sonnetBody, headers: { 'content-type': 'application/json' } });
    expect(r1.headers['x-qcc-endpoint']).toBe('vendor');
    await r1.body.dump();
    expect(JSON.parse(vendor.requests.at(-1)!.body.toString())).toEqual({ ...JSON.parse(sonnetBody), model: 'vendor-model-x' });
    const opusBody = '{"model":"claude-opus-4-8",  "max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';
    const r2 = await request(`${url}/v1/messages`, { method: 'POST', body: opusBody, headers: { 'content-type': 'application/json' } });
    expect(r2.headers['x-qcc-endpoint']).toBe('anthropic');
    await r2.body.dump();
    expect(anthropic.requests.at(-1)!.body.toString()).toBe(opusBody); // untouched bytes when nothing is mapped
    // A model no endpoint serves: 404, each endpoint named with what it serves (a 503 would only be retried).
    const r3 = await post(url, { ...MESSAGE, model: 'claude-unknown' });
    expect(r3.statusCode).toBe(404);
    expect(await r3.body.json()).toMatchObject({ error: { type: 'not_found_error', message: 'no endpoint serves model "claude-unknown": vendor serves only claude-sonnet-5; anthropic serves only claude-opus-4-8' } });
  });

  it('keeps a Claude Code session on the endpoint that served it', async () => {
    const a = await h.sim({ name: 'a' });
    const b = await h.sim({ name: 'b' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('a', a), endpoint('b', b)] });
    const served = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await post(url, MESSAGE, { 'x-claude-code-session-id': 'session-1' });
      served.add(String(res.headers['x-qcc-endpoint']));
      await res.body.dump();
    }
    expect(served.size).toBe(1);
    const unsticky = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const res = await post(url);
      unsticky.add(String(res.headers['x-qcc-endpoint']));
      await res.body.dump();
    }
    expect(unsticky.size).toBe(2);
  });
});

describe('recovery through the failure queue', () => {
  it('restores an endpoint that comes back', async () => {
    const flappy = await h.sim({ name: 'flappy', behavior: { status: 503 } });
    const good = await h.sim({ name: 'good' });
    const { url, app } = await h.proxy(
      { version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('flappy', flappy), endpoint('good', good, { priority: 1 })] },
      { queue: { initialBackoffMs: 50, maxBackoffMs: 200 } },
    );
    for (let i = 0; i < 6; i++) await (await post(url)).body.dump();
    expect(app.queue.has('flappy')).toBe(true);
    flappy.behavior = {};
    await eventually(() => !app.queue.has('flappy'), 3000);
    expect(app.pool.get('flappy')!.state(Date.now())).toBe('healthy');
    const res = await post(url);
    expect(res.headers['x-qcc-endpoint']).toBe('flappy');
    await res.body.dump();
  });

  it('a restart with a queued endpoint still checks and recovers it', async () => {
    const sim = await h.sim({ name: 'back' });
    const statePath = join(mkdtempSync(join(tmpdir(), 'qcc-state-')), 'state.json');
    writeState(statePath, { version: 1, queued: [{ id: 'back', since: Date.now() - 60_000, checks: 3 }] });
    const { app } = await h.proxy({ version: 1, endpoints: [endpoint('back', sim)] }, { statePath, queue: { initialBackoffMs: 50 } });
    expect(app.pool.get('back')!.state(Date.now())).toBe('queued');
    await eventually(() => !app.queue.has('back'), 3000);
    expect(sim.requests.some((r) => r.headers['x-qcc-health-check'] !== undefined)).toBe(true);
  });
});

describe('chaos', () => {
  it('hundreds of mixed requests over a dead, a flaky and a healthy endpoint: no client-visible failure', async () => {
    let seed = 42;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const failures: SimBehavior[] = [{ status: 529 }, { status: 500 }, { status: 429, retryAfter: 1 }, { resetBeforeHeaders: true }];
    const script = Array.from({ length: 1000 }, () => (rnd() < 0.3 ? failures[Math.floor(rnd() * failures.length)]! : {}));
    const flaky = await h.sim({ name: 'flaky', script, record: false });
    const healthy = await h.sim({ name: 'healthy', record: false });
    const { records, observer } = recorder();
    const { url, app } = await h.proxy(
      { version: 1, endpoints: [{ id: 'dead', base_url: await deadUrl(), api_key: 'k0' }, endpoint('flaky', flaky, { api_key: 'k1' }), endpoint('healthy', healthy, { api_key: 'k2' })] },
      { observer },
    );
    const client = new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 });
    const total = 300;
    let clientErrors = 0;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        try {
          if (i % 2 === 0) {
            const text = await client.messages.stream(MESSAGE).finalText();
            expect(text.length).toBeGreaterThan(0);
          } else {
            const msg = await client.messages.create(MESSAGE);
            expect(msg.content.length).toBeGreaterThan(0);
          }
        } catch {
          clientErrors++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    expect(clientErrors).toBe(0);
    expect(records).toHaveLength(total);
    for (const r of records) {
      const ids = r.attempts.map((a) => a.endpointId);
      expect(new Set(ids).size).toBe(ids.length); // no endpoint tried twice for one request
    }
    const attemptsOn = (id: string) => records.flatMap((r) => r.attempts).filter((a) => a.endpointId === id).length;
    expect(attemptsOn('dead')).toBeLessThanOrEqual(3);
    // The flaky endpoint was used and failed; each of its failures was absorbed by a failover.
    expect(attemptsOn('flaky')).toBeGreaterThan(0);
    expect(app.pool.get('flaky')!.failures).toBeGreaterThan(0);
    expect(records.filter((r) => r.attempts.length > 1).length).toBeGreaterThanOrEqual(app.pool.get('flaky')!.failures);
    expect(app.pool.get('healthy')!.failures).toBe(0);
  }, 60_000);
});
