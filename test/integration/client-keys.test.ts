import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { addKey, revokeKey, rotateKey, type KeyLimitsPatch } from '../../src/keys/manage.js';
import type { RequestRecord } from '../../src/proxy/events.js';
import { Harness, eventually, rawRequest } from '../helpers/servers.js';

/** Team keys (#23): each person's key, its limits enforced before any upstream, its usage on record. */

const harness = new Harness();
afterAll(() => harness.closeAll());

const PEPPER = Buffer.from('a-test-pepper-of-at-least-32-characters-000');
const MODEL = 'claude-haiku-4-5-20251001';

/** A config with one simulated endpoint (priced like a real one) and one key with `limits`. */
function withKey(simUrl: string, limits: KeyLimitsPatch, extra: Partial<Config> = {}): { config: Config; secret: string } {
  const base = configSchema.parse({ version: 1, endpoints: [{ id: 'sim', base_url: simUrl }], ...extra });
  return addKey(base, 'alice', limits, PEPPER, Date.now());
}

class Clock {
  constructor(public t: number) {}
  now = () => this.t;
}

function client(url: string, key: string): Anthropic {
  return new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 });
}

async function ask(c: Anthropic, opts: { stream?: boolean; model?: string } = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  try {
    if (opts.stream) {
      const s = c.messages.stream({ model: opts.model ?? MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] });
      const msg = await s.finalMessage();
      return { status: 200, headers: new Headers(), body: msg };
    }
    const { data, response } = await c.messages.create({ model: opts.model ?? MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    return { status: response.status, headers: response.headers, body: data };
  } catch (e: unknown) {
    if (e instanceof Anthropic.APIError) return { status: e.status ?? 0, headers: e.headers ?? new Headers(), body: e.error };
    throw e;
  }
}

describe('client keys', () => {
  it('an rpm limit admits exactly that many of a parallel burst, and the rest get 429 with when to come back', async () => {
    const sim = await harness.sim({ behavior: { latencyMs: 30 } });
    const clock = new Clock(Date.UTC(2026, 11, 6, 12, 0, 0));
    const { config, secret } = withKey(sim.url, { rpm: 5 });
    const { url, app } = await harness.proxy(config, { keyPepper: PEPPER, now: clock.now });
    const c = client(url, secret);
    const answers = await Promise.all(Array.from({ length: 12 }, () => ask(c)));
    const ok = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status === 429);
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(7);
    expect(sim.messageCalls).toBe(5); // refused before any upstream attempt
    for (const r of refused) {
      expect(r.headers.get('retry-after')).toBe('60');
      expect(r.headers.get('anthropic-ratelimit-requests-limit')).toBe('5');
      expect(r.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
      expect(r.headers.get('anthropic-ratelimit-requests-reset')).toBe('2026-12-06T12:01:00Z');
      expect(r.body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error', message: expect.stringContaining('key "alice" is limited to 5 requests per minute') } });
    }
    // Sliding: 59.9 s later the minute still holds all five; at 60 s they have left it.
    clock.t += 59_900;
    expect((await ask(c)).status).toBe(429);
    clock.t += 100;
    expect((await ask(c)).status).toBe(200);
    expect(app.limiter.view(config.client_keys[0]!, clock.t)).toMatchObject({ requests_last_minute: 1, admitted: 6, refused: { rpm: 8 } });
    const metrics = await app.metrics.render();
    expect(metrics).toContain('qcc_client_key_requests_total{key="alice",outcome="admitted"} 6');
    expect(metrics).toContain('qcc_client_key_requests_total{key="alice",outcome="rpm"} 8');
    expect(metrics).toMatch(/qcc_client_key_tokens_total\{key="alice"\} \d+/);
  });

  it('a tpm limit settles each streamed answer to its real usage, and refuses once the minute is full', async () => {
    const sim = await harness.sim({ behavior: { usage: { input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 5000 } } });
    const clock = new Clock(Date.UTC(2026, 11, 6, 12, 0, 0));
    const { config, secret } = withKey(sim.url, { tpm: 1000 });
    const { url, app } = await harness.proxy(config, { keyPepper: PEPPER, now: clock.now });
    const c = client(url, secret);
    const view = () => app.limiter.view(config.client_keys[0]!, clock.t);
    expect((await ask(c, { stream: true })).status).toBe(200);
    await eventually(() => view().inflight === 0);
    // 100 in + 50 out; the 5,000 cache reads are not counted, and nothing stays reserved.
    expect(view()).toMatchObject({ tokens_last_minute: 150, tokens_reserved: 0 });
    for (let i = 0; i < 6; i++) {
      clock.t += 1_000;
      expect((await ask(c, { stream: true })).status).toBe(200);
    }
    await eventually(() => view().inflight === 0);
    expect(view().tokens_last_minute).toBe(1050); // the 7th was admitted at 900 (< 1000): the overshoot is one request
    clock.t += 1_000;
    const refused = await ask(c, { stream: true });
    expect(refused.status).toBe(429);
    // Refused at 12:00:07; the first answer settled at 12:00:00 and leaves the minute at 12:01:00, leaving 900: room.
    expect(Number(refused.headers.get('retry-after'))).toBe(53);
    expect(refused.headers.get('anthropic-ratelimit-tokens-limit')).toBe('1000');
    clock.t += 53_000;
    expect((await ask(c, { stream: true })).status).toBe(200);
  });

  it('a budget stops at its limit with a message Claude Code shows as it is, and clears at the window boundary', async () => {
    const sim = await harness.sim({ behavior: { usage: { input_tokens: 100_000, output_tokens: 0 } } });
    // Just before midnight UTC; haiku at $1 per million input tokens: each answer costs $0.10.
    const clock = new Clock(Date.UTC(2026, 11, 6, 23, 59, 0));
    const { config, secret } = withKey(sim.url, { budget: { usd: 0.25, per: 'day' } });
    const { url, app } = await harness.proxy(config, { keyPepper: PEPPER, now: clock.now });
    const c = client(url, secret);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await ask(c)).status);
    expect(statuses).toEqual([200, 200, 200, 429]); // $0.30 ≥ $0.25 after the third
    const refused = await ask(c);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect(refused.headers.get('retry-after')).toBe('60');
    expect(refused.body).toMatchObject({
      error: { type: 'billing_error', message: 'key "alice" has used its budget of $0.25 per day ($0.30 spent); it resets at 2026-12-07T00:00:00Z (UTC)' },
    });
    expect(app.limiter.view(config.client_keys[0]!, clock.t).budget).toMatchObject({ spent_usd: 0.3, limit_usd: 0.25, per: 'day' });
    clock.t = Date.UTC(2026, 11, 7, 0, 0, 0);
    expect((await ask(c)).status).toBe(200);
  });

  it('a restart keeps the budget spent (rebuilt from the request log)', async () => {
    const sim = await harness.sim({ behavior: { usage: { input_tokens: 100_000, output_tokens: 0 } } });
    const statsFile = join(mkdtempSync(join(tmpdir(), 'qcc-keys-')), 'qcc.db');
    const { config, secret } = withKey(sim.url, { budget: { usd: 0.15, per: 'month' }, rpm: 100 });
    const first = await harness.proxy(config, { keyPepper: PEPPER, statsFile });
    expect((await ask(client(first.url, secret))).status).toBe(200);
    expect((await ask(client(first.url, secret))).status).toBe(200);
    expect((await ask(client(first.url, secret))).status).toBe(429);
    await first.app.close(0);
    const second = await harness.proxy(config, { keyPepper: PEPPER, statsFile });
    expect(second.app.limiter.view(config.client_keys[0]!, Date.now())).toMatchObject({ budget: { spent_usd: 0.2 }, requests_last_minute: 2 });
    const again = await ask(client(second.url, secret));
    expect(again.status).toBe(429);
    expect(JSON.stringify(again.body)).toContain('$0.20 spent');
    // The log names the key on every row, refusals included, and holds no secret.
    second.app.flushStats();
    const db = readFileSync(statsFile);
    expect(db.includes(Buffer.from(secret))).toBe(false);
  });

  it('model and endpoint allowlists: a model outside gets 403 before any upstream, requests go only where allowed', async () => {
    const simA = await harness.sim();
    const simB = await harness.sim();
    const base = configSchema.parse({ version: 1, endpoints: [{ id: 'a', base_url: simA.url }, { id: 'b', base_url: simB.url }] });
    const { config, secret } = addKey(base, 'bob', { models: ['claude-haiku-*'], endpoints: ['b'] }, PEPPER, Date.now());
    const { url } = await harness.proxy(config, { keyPepper: PEPPER });
    const c = client(url, secret);
    for (let i = 0; i < 4; i++) expect((await ask(c)).status).toBe(200);
    expect(simA.messageCalls).toBe(0);
    expect(simB.messageCalls).toBe(4);
    const refused = await ask(c, { model: 'claude-opus-4-5' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { type: 'permission_error', message: expect.stringContaining('key "bob" may not use model "claude-opus-4-5"') } });
    expect(simB.messageCalls).toBe(4);
    // Its only endpoint down: that endpoint's failure, never a request to the other one.
    simB.behavior.resetBeforeHeaders = true;
    const down = await ask(c);
    expect(down.status).toBe(502);
    expect(simA.messageCalls).toBe(0);
  });

  it('revoke takes effect on the next request; rotate gives a new secret and the old one stops at once', async () => {
    const sim = await harness.sim();
    const { config, secret } = withKey(sim.url, {});
    const { url, app } = await harness.proxy(config, { keyPepper: PEPPER });
    expect((await ask(client(url, secret))).status).toBe(200);
    const rotated = rotateKey(config, 'alice', PEPPER, Date.now());
    app.reload(rotated.config);
    const old = await ask(client(url, secret));
    expect(old.status).toBe(401);
    expect(old.body).toMatchObject({ error: { type: 'authentication_error', message: expect.stringContaining('not one qcc knows') } });
    expect((await ask(client(url, rotated.secret))).status).toBe(200);
    app.reload(revokeKey(rotated.config, 'alice', Date.now()));
    const revoked = await ask(client(url, rotated.secret));
    expect(revoked.status).toBe(401);
    expect(revoked.body).toMatchObject({ error: { message: expect.stringContaining('qcc key "alice" was revoked at') } });
    // No key at all, or another string: 401 as well (keys exist, so the proxy is closed).
    expect((await ask(client(url, 'sk-ant-something'))).status).toBe(401);
  });

  it('an expired key is refused with when it expired', async () => {
    const sim = await harness.sim();
    const { config, secret } = withKey(sim.url, { expires_at: new Date(Date.now() + 60_000).toISOString() });
    const clock = new Clock(Date.now());
    const { url } = await harness.proxy(config, { keyPepper: PEPPER, now: clock.now });
    expect((await ask(client(url, secret))).status).toBe(200);
    clock.t += 61_000;
    const expired = await ask(client(url, secret));
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ error: { message: expect.stringContaining('expired at') } });
  });

  it('the key is never forwarded: not as x-api-key, not as Bearer, not both at once (apiKeyHelper)', async () => {
    const sim = await harness.sim();
    const { config, secret } = withKey(sim.url, {});
    const records: RequestRecord[] = [];
    const { url } = await harness.proxy(config, { keyPepper: PEPPER, observer: { requestFinished: (r) => records.push(r) } });
    const body = JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    const variants: Record<string, string>[] = [{ 'x-api-key': secret }, { authorization: `Bearer ${secret}` }, { 'x-api-key': secret, authorization: `Bearer ${secret}` }];
    for (const auth of variants) {
      const res = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...auth }, body });
      expect(res.status).toBe(200);
    }
    expect(sim.requests).toHaveLength(3);
    for (const r of sim.requests) expect(JSON.stringify(r.headers)).not.toContain(secret);
    expect(records.map((r) => r.clientKey)).toEqual(['alice', 'alice', 'alice']);
  });

  it('the shared access_keys keep working as unlimited keys, named in the log', async () => {
    const sim = await harness.sim();
    const { config, secret } = withKey(sim.url, { rpm: 1 }, { proxy: { access_keys: ['shared-team-key-1'] } } as Partial<Config>);
    const records: RequestRecord[] = [];
    const { url } = await harness.proxy(config, { keyPepper: PEPPER, observer: { requestFinished: (r) => records.push(r) } });
    for (let i = 0; i < 3; i++) expect((await ask(client(url, 'shared-team-key-1'))).status).toBe(200);
    expect((await ask(client(url, secret))).status).toBe(200);
    expect((await ask(client(url, secret))).status).toBe(429);
    expect(records.map((r) => r.clientKey)).toEqual(['access_keys[0]', 'access_keys[0]', 'access_keys[0]', 'alice', 'alice']);
  });
});
