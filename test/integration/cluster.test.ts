import Anthropic from '@anthropic-ai/sdk';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { addKey } from '../../src/keys/manage.js';
import { Harness, endpoint, eventually, sleep, postMessage as post } from '../helpers/servers.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * Replicas sharing state in Redis (#24), in one process against this machine's Redis: each test has its own key
 * prefix, so runs never see each other's state. (The CLI replicas behind nginx are test/e2e/replicas.test.ts.)
 */

const REDIS = process.env.QCC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PEPPER = Buffer.from('a-test-pepper-of-at-least-32-characters-000');
const MODEL = 'claude-haiku-4-5-20251001';

const harness = new Harness();
afterEach(() => harness.closeAll());
const prefixes: string[] = [];
afterAll(async () => {
  // Leave this machine's Redis as it was found.
  const c = createClient({ url: REDIS });
  await c.connect();
  for (const p of prefixes) for await (const keys of c.scanIterator({ MATCH: `${p}:*`, COUNT: 500 })) if (keys.length > 0) await c.del(keys);
  await c.close();
});

function newPrefix(): string {
  const p = `qcc-test-${randomBytes(6).toString('hex')}`;
  prefixes.push(p);
  return p;
}

/** `n` replicas of one config sharing `redisUrl` under a fresh prefix (or `prefix`). */
async function replicas(n: number, config: Config, opts: { redisUrl?: string; prefix?: string; leaseMs?: number } = {}): Promise<{ app: App; url: string }[]> {
  const prefix = opts.prefix ?? newPrefix();
  const out: { app: App; url: string }[] = [];
  for (let i = 0; i < n; i++) {
    const { app, url } = await harness.proxy(config, {
      keyPepper: PEPPER,
      stores: { replicaId: `r${i + 1}`, redis: { url: opts.redisUrl ?? REDIS, prefix, leaseMs: opts.leaseMs ?? 3_000, timeoutMs: 200 }, postgres: undefined },
    });
    await app.connectStores(3_000);
    out.push({ app, url });
  }
  return out;
}


describe('replicas sharing Redis', () => {
  it('an endpoint that fails through one replica is avoided by the others within a second', async () => {
    const bad = await harness.sim({ behavior: { status: 503 } });
    const good = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('bad', bad, { priority: 1 }), endpoint('good', good, { priority: 2 })], proxy: { strategy: 'priority' } });
    const [a, b, c] = await replicas(3, config);
    // Through A only: five server errors open the breaker there (every request still succeeds on "good").
    for (let i = 0; i < 6; i++) expect((await post(a!.url)).status).toBe(200);
    expect(a!.app.pool.get('bad')!.breaker.state).toBe('open');
    const seen = Date.now();
    await eventually(() => b!.app.pool.get('bad')!.breaker.state === 'open' && c!.app.pool.get('bad')!.breaker.state === 'open', 1_000);
    expect(Date.now() - seen).toBeLessThan(1_000);
    // B and C have never sent "bad" a request, and do not now.
    const before = bad.messageCalls;
    for (const r of [b!, c!]) for (let i = 0; i < 3; i++) expect(await post(r.url)).toEqual({ status: 200, endpoint: 'good' });
    expect(bad.messageCalls).toBe(before);
    // It joined the failure queue everywhere; its state shows so on every replica.
    for (const r of [a!, b!, c!]) expect(r.app.status().endpoints.find((e) => e.id === 'bad')!.state).toBe('queued');
  });

  it('consecutive failures are counted across replicas: five spread over two open the breaker on both, and a success anywhere ends the run', async () => {
    const bad = await harness.sim({ behavior: { status: 503 } });
    const good = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('bad', bad, { priority: 1 }), endpoint('good', good, { priority: 2 })], proxy: { strategy: 'priority' } });
    const [a, b] = await replicas(2, config);
    const breaker = (r: { app: App }) => r.app.pool.get('bad')!.breaker;
    // Four failures through A, then "bad" answers one request through B: the run is over on both.
    for (let i = 0; i < 4; i++) expect(await post(a!.url)).toEqual({ status: 200, endpoint: 'good' });
    await eventually(() => breaker(b!).consecutiveFailures === 4, 1_000);
    bad.behavior = {};
    expect(await post(b!.url)).toEqual({ status: 200, endpoint: 'bad' });
    await eventually(() => breaker(a!).consecutiveFailures === 0, 1_000);
    // A new run: three through A and two through B. No replica saw five, yet the run is five.
    bad.behavior = { status: 503 };
    for (let i = 0; i < 3; i++) await post(a!.url);
    await eventually(() => breaker(b!).consecutiveFailures === 3, 1_000);
    for (let i = 0; i < 2; i++) await post(b!.url);
    expect(breaker(b!).state).toBe('open');
    await eventually(() => breaker(a!).state === 'open', 1_000);
    expect(bad.messageCalls).toBe(4 + 1 + 5);
  });

  it('an endpoint restored on one replica is back on all of them', async () => {
    const flaky = await harness.sim({ behavior: { status: 503 } });
    const good = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('flaky', flaky, { priority: 1 }), endpoint('good', good, { priority: 2 })], proxy: { strategy: 'priority' } });
    const [a, b] = await replicas(2, config);
    for (let i = 0; i < 6; i++) await post(a!.url);
    await eventually(() => b!.app.pool.get('flaky')!.breaker.state === 'open', 1_000);
    flaky.behavior = {};
    a!.app.pool.get('flaky')!.restore(Date.now());
    await eventually(() => b!.app.pool.get('flaky')!.breaker.state === 'closed', 1_000);
    expect(b!.app.status().endpoints.find((e) => e.id === 'flaky')!.state).toBe('healthy');
  });

  it('a key refused on one replica (401) is set aside on all, by fingerprint, never by its secret', async () => {
    const sim = await harness.sim({ behavior: { requireKey: 'sk-second' } });
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('pool', sim, { api_keys: ['sk-first', 'sk-second'] })] });
    const prefix = newPrefix();
    const [a, b] = await replicas(2, config, { prefix });
    expect((await post(a!.url)).status).toBe(200); // the first key is refused (401) and set aside; the second answers
    await eventually(() => b!.app.pool.get('pool')!.keys.usableCount(Date.now()) === 1, 1_000);
    const calls = sim.messageCalls;
    expect((await post(b!.url)).status).toBe(200);
    expect(sim.messageCalls).toBe(calls + 1); // B went straight to the second key
    // The shared snapshot names the key by fingerprint only.
    const redis = createClient({ url: REDIS });
    await redis.connect();
    const snapshot = JSON.stringify(await redis.hGetAll(`${prefix}:endpoint-state`));
    await redis.close();
    expect(snapshot).toContain('key:pool:');
    expect(snapshot).not.toContain('sk-first');
  });

  it('a replica that joins later starts with what the others know: open breakers and keys set aside', async () => {
    const bad = await harness.sim({ behavior: { status: 503 } });
    const pooled = await harness.sim({ behavior: { requireKey: 'sk-good' } });
    const config = configSchema.parse({
      version: 1,
      health: { interval_s: 0 },
      proxy: { strategy: 'priority' },
      endpoints: [endpoint('bad', bad, { priority: 1 }), endpoint('pooled', pooled, { priority: 2, api_keys: ['sk-refused', 'sk-good'] })],
    });
    const prefix = newPrefix();
    const [a] = await replicas(1, config, { prefix });
    for (let i = 0; i < 6; i++) expect((await post(a!.url)).status).toBe(200);
    expect(a!.app.pool.get('bad')!.breaker.state).toBe('open');
    expect(a!.app.pool.get('pooled')!.keys.usableCount(Date.now())).toBe(1);
    const [late] = await replicas(1, config, { prefix });
    await eventually(() => late!.app.pool.get('bad')!.breaker.state === 'open', 2_000);
    expect(late!.app.status().endpoints.find((e) => e.id === 'bad')!.state).toBe('queued');
    expect(late!.app.pool.get('pooled')!.keys.usableCount(Date.now())).toBe(1);
    const calls = bad.messageCalls;
    expect(await post(late!.url)).toEqual({ status: 200, endpoint: 'pooled' });
    expect(bad.messageCalls).toBe(calls);
  });

  it('a team key with rpm 10 admits exactly 10 requests a minute across three replicas', async () => {
    const sim = await harness.sim({ behavior: { latencyMs: 20 } });
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { rpm: 10 }, PEPPER, Date.now());
    const rs = await replicas(3, config);
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => post(rs[i % 3]!.url, { 'x-api-key': secret })));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(20);
    expect(sim.messageCalls).toBe(10);
    for (const r of rs) expect(r.app.status().stores.state).toMatchObject({ state: 'connected', limits: 'shared' });
  });

  it('a busy key is admitted mostly from leases, without a round trip, and its limit still holds exactly across replicas', async () => {
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const busy = addKey(base, 'busy', { rpm: 1_000_000 }, PEPPER, Date.now());
    const { config, secret } = addKey(busy.config, 'capped', { rpm: 1_500 }, PEPPER, Date.now());
    const rs = await replicas(3, config);
    // Sequential requests on one replica for ~1.5 s: after the first second, leases answer most admissions.
    const until = Date.now() + 1_500;
    let sent = 0;
    while (Date.now() < until) {
      expect((await post(rs[0]!.url, { 'x-api-key': busy.secret })).status).toBe(200);
      sent++;
    }
    const { asked, leased } = rs[0]!.app.cluster!.limiter.admissions;
    expect(asked + leased).toBe(sent);
    expect(leased).toBeGreaterThan(sent / 3);
    // A capped key, three clients on three replicas for 4 s: the limit is reached while leases are in use (from
    // the second second on), and exactly its 1,500 are admitted.
    const leasedBefore = rs.reduce((n, r) => n + r.app.cluster!.limiter.admissions.leased, 0);
    let ok = 0;
    let refused = 0;
    const stopAt = Date.now() + 4_000;
    await Promise.all(
      rs.map(async (r) => {
        while (Date.now() < stopAt) {
          const { status } = await post(r.url, { 'x-api-key': secret });
          if (status === 200) ok++;
          else if (status === 429) refused++;
          else throw new Error(`status ${status}`);
        }
      }),
    );
    expect(ok).toBe(1_500);
    expect(refused).toBeGreaterThan(0);
    expect(rs.reduce((n, r) => n + r.app.cluster!.limiter.admissions.leased, 0) - leasedBefore).toBeGreaterThan(100);
  });

  it('concurrent requests of one key share one lease at a time: about one round trip per lease, little given back', async () => {
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'busy', { rpm: 1_000_000, tpm: 1e12 }, PEPPER, Date.now());
    const [r] = await replicas(1, config);
    // Eight clients at once for 1.5 s. Before leases were refilled one at a time, every request that found the
    // lease empty asked Redis for a lease of its own and each answer replaced (gave back) the one before it.
    const stopAt = Date.now() + 1_500;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < stopAt) {
          expect((await post(r!.url, { 'x-api-key': secret })).status).toBe(200);
          sent++;
        }
      }),
    );
    const { asked, leased, refills, givenBack } = r!.app.cluster!.limiter.admissions;
    expect(asked + leased).toBe(sent);
    expect(sent).toBeGreaterThan(500);
    // One round trip serves tens of requests once the key's rate is known (the first second asks more).
    expect(asked + refills).toBeLessThan(sent / 8);
    // Nothing is given back while the stream lasts: leases are used up, the next one already there.
    expect(givenBack).toBeLessThan(64);
  });

  it('a request bigger than what a lease reserved asks Redis for itself: a lease never under-reserves a tpm minute', async () => {
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { tpm: 1e9 }, PEPPER, Date.now());
    const [r] = await replicas(1, config);
    const send = (content: string) =>
      fetch(`${r!.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': secret, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content }] }),
      }).then(async (res) => (await res.arrayBuffer(), res.status));
    // Small requests for a little over a second: the key's rate is known and its admissions come from leases.
    const until = Date.now() + 1_200;
    while (Date.now() < until) expect(await send('hi')).toBe(200);
    const limiter = r!.app.cluster!.limiter;
    const before = { ...limiter.admissions };
    expect(before.leased).toBeGreaterThan(0);
    // 40 KB of prompt reserves ~10,000 tokens; the leased admissions reserved a few dozen each.
    expect(await send('x'.repeat(40_000))).toBe(200);
    expect(limiter.admissions.asked).toBe(before.asked + 1);
    expect(limiter.admissions.leased).toBe(before.leased);
    // And small ones go on using the lease.
    expect(await send('hi')).toBe(200);
    expect(limiter.admissions.leased).toBe(before.leased + 1);
  });

  it('one tpm limit for all replicas: tokens settled on one count on the others, with what is in flight reserved', async () => {
    // Each answer uses 400 input + 100 output tokens; the key may use 1,000 a minute.
    const sim = await harness.sim({ behavior: { usage: { input_tokens: 400, output_tokens: 100 } } });
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { tpm: 1_000 }, PEPPER, Date.now());
    const [a, b, c] = await replicas(3, config);
    // A settlement reaches Redis with the replica's next admission or within 50 ms.
    expect((await post(a!.url, { 'x-api-key': secret })).status).toBe(200); // 500 settled
    await sleep(80);
    expect((await post(b!.url, { 'x-api-key': secret })).status).toBe(200); // 1,000 settled: the minute is full
    await sleep(80);
    const refused = await fetch(`${c!.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': secret, 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: MODEL, max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/limited to 1000 tokens per minute and has used 1000/);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(50);
  });

  it('one budget for all replicas: what one spent, the others refuse beyond', async () => {
    // haiku at $1 per million input tokens: each answer costs $0.10; the budget is $0.25 a day.
    const sim = await harness.sim({ behavior: { usage: { input_tokens: 100_000, output_tokens: 0 } } });
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { budget: { usd: 0.25, per: 'day' } }, PEPPER, Date.now());
    const rs = await replicas(3, config);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      statuses.push((await post(rs[i % 3]!.url, { 'x-api-key': secret })).status);
      await sleep(80); // a settlement reaches Redis with the replica's next admission or within 50 ms
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('a session keeps its endpoint whichever replica serves it', async () => {
    const sims = [await harness.sim(), await harness.sim(), await harness.sim()];
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: sims.map((s, i) => endpoint(`e${i}`, s)) });
    const rs = await replicas(3, config);
    for (let session = 0; session < 4; session++) {
      const headers = { 'x-claude-code-session-id': `session-${session}-${randomBytes(4).toString('hex')}` };
      const first = await post(rs[0]!.url, headers);
      await sleep(50); // the others hear of it
      for (let i = 0; i < 6; i++) expect((await post(rs[i % 3]!.url, headers)).endpoint).toBe(first.endpoint);
    }
  });

  it('a replica started later (a rolling restart) keeps each session on the endpoint that served it', async () => {
    const sims = [await harness.sim(), await harness.sim(), await harness.sim()];
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: sims.map((s, i) => endpoint(`e${i}`, s)) });
    const prefix = newPrefix();
    const [a] = await replicas(1, config, { prefix });
    const served = new Map<string, string>();
    for (let i = 0; i < 6; i++) {
      const session = `session-${i}-${randomBytes(4).toString('hex')}`;
      const { endpoint: e } = await post(a!.url, { 'x-claude-code-session-id': session });
      served.set(session, e!);
    }
    expect(new Set(served.values()).size).toBeGreaterThan(1);
    // A session id longer than a UUID could be is kept on its replica only.
    const long = 's'.repeat(500);
    await post(a!.url, { 'x-claude-code-session-id': long });
    await sleep(100); // written in the background
    const [late] = await replicas(1, config, { prefix });
    for (const [session, e] of served) expect(late!.app.pool.affinity.get(session)).toBe(e);
    expect(late!.app.pool.affinity.get(long)).toBeUndefined();
    // Its first request for each session goes where the session was, though its own rotation starts afresh.
    for (const [session, e] of served) expect((await post(late!.url, { 'x-claude-code-session-id': session })).endpoint).toBe(e);
  });

  it('only the lease holder sends health checks, and another takes over within the lease time when it dies', async () => {
    const sim = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0.3 }, endpoints: [endpoint('sim', sim)] });
    const rs = await replicas(3, config, { leaseMs: 1_500 });
    await eventually(() => rs.filter((r) => r.app.cluster!.checksHere).length === 1, 3_000);
    const holder = rs.find((r) => r.app.cluster!.checksHere)!;
    await sleep(1_200);
    const checks = sim.requests.filter((r) => r.headers['x-qcc-health-check'] !== undefined);
    expect(checks.length).toBeGreaterThanOrEqual(2);
    // One replica checks; the others see its results (a score) without sending any.
    for (const r of rs) expect(r.app.pool.get('sim')!.healthScore).toBeDefined();
    expect(rs.filter((r) => r.app.health.started)).toEqual([holder]);
    // The holder dies without giving the lease back (its connection is cut, its timers stop).
    await holder.app.cluster!.link.close();
    holder.app.health.stop();
    const died = Date.now();
    const others = rs.filter((r) => r !== holder);
    await eventually(() => others.some((r) => r.app.cluster!.checksHere), 4_000);
    expect(Date.now() - died).toBeLessThan(1_500 + 700);
    expect(others.filter((r) => r.app.cluster!.checksHere)).toHaveLength(1);
  });
});

describe('one config for all replicas', () => {
  it('an endpoint added or disabled on one replica applies on all within a couple of seconds; each keeps its own address', async () => {
    const one = await harness.sim();
    const two = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('one', one)] });
    const [a, b, c] = await replicas(3, config);
    const edited = configSchema.parse({ ...config, proxy: { ...config.proxy, port: 9999 }, endpoints: [endpoint('one', one, { enabled: false }), endpoint('two', two)] });
    const t0 = Date.now();
    a!.app.reloadFromFile(edited);
    await eventually(() => [b!, c!].every((r) => r.app.config().endpoints.map((e) => `${e.id}:${e.enabled}`).join() === 'one:false,two:true'), 2_000, 20);
    expect(Date.now() - t0).toBeLessThan(2_000);
    // The port is each replica's own: not shared.
    for (const r of [b!, c!]) expect(r.app.config().proxy.port).toBe(config.proxy.port);
    for (const r of [b!, c!]) expect((await post(r.url)).endpoint).toBe('two');
    const versions = [a!, b!, c!].map((r) => r.app.status().stores.state.config_version);
    expect(new Set(versions).size).toBe(1);
  });

  it('conflicting edits on two replicas end in the same config everywhere; a replica started later with an older file adopts it', async () => {
    const sims = [await harness.sim(), await harness.sim(), await harness.sim()];
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('s0', sims[0]!)] });
    const prefix = newPrefix();
    const [a, b, c] = await replicas(3, config, { prefix });
    a!.app.reloadFromFile(configSchema.parse({ ...config, endpoints: [endpoint('s1', sims[1]!)] }));
    b!.app.reloadFromFile(configSchema.parse({ ...config, endpoints: [endpoint('s2', sims[2]!)] }));
    const ids = (r: { app: App }) => r.app.config().endpoints.map((e) => e.id).join();
    await eventually(() => ids(a!) === ids(b!) && ids(b!) === ids(c!) && ['s1', 's2'].includes(ids(a!)), 2_000, 20);
    await sleep(200);
    expect(new Set([a!, b!, c!].map(ids)).size).toBe(1);
    const agreed = ids(a!);
    const [late] = await replicas(1, config, { prefix });
    expect(ids(late!)).toBe(agreed);
  });
});

describe('a replica that starts with a config file of its own', () => {
  async function withFile(config: Config, prefix: string, id: string, writtenAt?: Date): Promise<{ app: App; file: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'qcc-cluster-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    if (writtenAt) utimesSync(file, writtenAt, writtenAt);
    const { app } = await harness.proxy(config, { configPath: file, stores: { replicaId: id, redis: { url: REDIS, prefix, leaseMs: 3_000, timeoutMs: 200 }, postgres: undefined } });
    await app.connectStores(3_000);
    return { app, file };
  }

  it('adopts the shared config when its file is older, keeping the file it had beside it', async () => {
    const sim = await harness.sim();
    const prefix = newPrefix();
    const shared = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('shared', sim)] });
    await replicas(1, shared, { prefix });
    const old = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('old', sim)] });
    const { app, file } = await withFile(old, prefix, 'late', new Date(Date.now() - 3_600_000));
    expect(app.config().endpoints.map((e) => e.id)).toEqual(['shared']);
    expect(JSON.parse(readFileSync(file, 'utf8')).endpoints[0].id).toBe('shared');
    expect(JSON.parse(readFileSync(`${file}.before-shared`, 'utf8')).endpoints[0].id).toBe('old');
  });

  it('shares its file when it was edited after the shared config was written; a new replica with no endpoint never does', async () => {
    const sim = await harness.sim();
    const prefix = newPrefix();
    const [first] = await replicas(1, configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('shared', sim)] }), { prefix });
    await sleep(20);
    const empty = await withFile(configSchema.parse({ version: 1, health: { interval_s: 0 } }), prefix, 'fresh');
    expect(empty.app.config().endpoints.map((e) => e.id)).toEqual(['shared']);
    const edited = await withFile(configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('edited', sim)] }), prefix, 'edited');
    expect(edited.app.config().endpoints.map((e) => e.id)).toEqual(['edited']);
    await eventually(() => first!.app.config().endpoints[0]!.id === 'edited' && empty.app.config().endpoints[0]!.id === 'edited', 2_000);
  });
});

describe('when Redis goes away', () => {
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await redis?.dispose();
    redis = undefined;
  });

  it('a Redis that hangs (connections open, no answer) costs a keyed request the deadline once a second, not every time', async () => {
    redis = await startRedis();
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { rpm: 100_000 }, PEPPER, Date.now());
    const [r] = await replicas(1, config, { redisUrl: redis.url }); // state.timeout_ms 200
    const send = async () => (await post(r!.url, { 'x-api-key': secret })).status;
    for (let i = 0; i < 50; i++) expect(await send()).toBe(200); // leases in use
    redis.pause();
    const started = Date.now();
    const slow: number[] = [];
    for (let i = 0; i < 60; i++) {
      const t0 = Date.now();
      expect(await send()).toBe(200);
      if (Date.now() - t0 > 150) slow.push(Date.now() - t0);
    }
    const elapsed = Date.now() - started;
    // Waiting on the deadline every time would take 60 x 200 ms. Each wait is one deadline, never two (a request
    // that waited for a lease's refill does not then wait again on its own).
    expect(elapsed).toBeLessThan(3_000);
    expect(slow.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1_000) + 1);
    for (const ms of slow) expect(ms).toBeLessThan(200 + 150);
    expect(r!.app.status().stores.state).toMatchObject({ limits: 'per-replica' });
    const pending = r!.app.cluster!.limiter.pending;
    expect(pending).toBeGreaterThan(0);
    redis.resume();
    // Admissions decided alone meanwhile are merged once Redis answers again, and limits are shared again.
    await eventually(() => r!.app.cluster!.limiter.pending === 0 && r!.app.status().stores.state?.limits === 'shared', 5_000);
    expect(await send()).toBe(200);
  });

  it('serves every request, enforces limits per replica, and merges back when Redis returns', async () => {
    redis = await startRedis();
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { rpm: 1_000 }, PEPPER, Date.now());
    const rs = await replicas(2, config, { redisUrl: redis.url });
    const client = (i: number) => new Anthropic({ baseURL: rs[i % 2]!.url, apiKey: secret, maxRetries: 0 });
    let stop = false;
    const failures: unknown[] = [];
    let served = 0;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await client(i).messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
          served++;
        } catch (e: unknown) {
          failures.push(e);
        }
      }
    })();
    await sleep(300);
    await redis.stop();
    await eventually(() => rs.every((r) => r.app.status().stores.state.state === 'degraded'), 3_000);
    const servedDown = served;
    await sleep(500);
    expect(served).toBeGreaterThan(servedDown);
    for (const r of rs) expect(r.app.status().stores.state).toMatchObject({ limits: 'per-replica', health_checker: expect.any(String) });
    // Every replica checks for itself while alone.
    for (const r of rs) expect(r.app.cluster!.checksHere).toBe(true);
    const down = await rs[0]!.app.metrics.render();
    expect(down).toContain('qcc_store_up{store="state",backend="redis",replica="r1"} 0');
    expect(down).toMatch(/^qcc_limits_shared 0$/m);
    await redis.start();
    await eventually(() => rs.every((r) => r.app.status().stores.state.state === 'connected'), 8_000, 50);
    await sleep(300);
    stop = true;
    await load;
    const up = await rs[0]!.app.metrics.render();
    expect(up).toContain('qcc_store_up{store="state",backend="redis",replica="r1"} 1');
    expect(up).toMatch(/^qcc_limits_shared 1$/m);
    expect(failures).toEqual([]);
    // What was admitted alone is in the shared minute now (and admissions leased but not used are given back
    // within a second).
    await eventually(() => rs.every((r) => r.app.status().stores.state.pending_merge === 0), 3_000);
    await sleep(1_200);
    const c = createClient({ url: redis.url });
    await c.connect();
    const keys = await c.keys('*:key:team:requests');
    const counted = await c.zCard(keys[0]!);
    await c.close();
    expect(counted).toBe(served);
  });

  it('limits fall back to each replica: rpm 3 admits 3 per replica while Redis is away, and once it is back those six fill the shared minute', async () => {
    redis = await startRedis();
    const sim = await harness.sim();
    const base = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { config, secret } = addKey(base, 'team', { rpm: 3 }, PEPPER, Date.now());
    const rs = await replicas(2, config, { redisUrl: redis.url });
    await redis.stop();
    await eventually(() => rs.every((r) => r.app.status().stores.state.state === 'degraded'), 3_000);
    const alone = await Promise.all(Array.from({ length: 10 }, (_, i) => post(rs[i % 2]!.url, { 'x-api-key': secret })));
    expect(alone.filter((a) => a.status === 200)).toHaveLength(6);
    await redis.start();
    await eventually(() => rs.every((r) => r.app.status().stores.state.state === 'connected' && r.app.status().stores.state.pending_merge === 0), 8_000, 50);
    // Back together: the six admitted alone are in the shared minute, so the key has no room left anywhere.
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) => post(rs[i % 2]!.url, { 'x-api-key': secret })));
    expect(after.map((a) => a.status)).toEqual([429, 429, 429, 429]);
  });

  it('a replica that starts while Redis is unreachable serves alone and says why', async () => {
    const sim = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { app, url } = await harness.proxy(config, { stores: { replicaId: 'lonely', redis: { url: 'redis://:secretpw@127.0.0.1:1', prefix: newPrefix(), leaseMs: 3_000, timeoutMs: 50 }, postgres: undefined } });
    expect(await app.connectStores(300)).toBe(false);
    expect((await post(url)).status).toBe(200);
    const state = app.status().stores.state;
    expect(state).toMatchObject({ backend: 'redis', state: 'degraded', limits: 'per-replica' });
    expect(state.url).not.toContain('secretpw');
    expect(state.error).toMatch(/ECONNREFUSED|connect/);
  });
});
