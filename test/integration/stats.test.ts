import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { SCHEMA_VERSION, StatsStore } from '../../src/stats/store.js';
import { recentRequests, recentRequestsSql, SUMMARY_SQL, KEY_USAGE_SQL, summarize } from '../../src/stats/query.js';
import { TIMESERIES_SQL } from '../../src/stats/timeseries.js';
import { PriceTable } from '../../src/stats/pricing.js';
import { runCli } from '../helpers/cli.js';
import { Harness, endpoint } from '../helpers/servers.js';

const h = new Harness();
afterEach(() => h.closeAll());

const MESSAGE = { model: 'claude-sonnet-5', max_tokens: 32, messages: [{ role: 'user' as const, content: 'hello' }] };
const USAGE = { input_tokens: 1200, output_tokens: 80, cache_creation_input_tokens: 300, cache_read_input_tokens: 5000 };

async function setup(behavior = {}) {
  const home = mkdtempSync(join(tmpdir(), 'qcc-stats-'));
  const sim = await h.sim({ name: 'up', behavior: { usage: USAGE, ...behavior } });
  const bad = await h.sim({ name: 'bad', behavior: { status: 529 } });
  const statsFile = join(home, 'qcc.db');
  const { url, app } = await h.proxy(
    { version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('bad', bad, { enabled: false }), endpoint('up', sim, { priority: 1 })] },
    { statsFile },
  );
  return { home, sim, bad, url, app, statsFile };
}

describe('request log', () => {
  it('records the tokens the upstream reported, cache tokens included, for JSON and streaming', async () => {
    const { url, app, statsFile } = await setup();
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    const json = await client.messages.create(MESSAGE).withResponse();
    const streamed = await client.messages.stream(MESSAGE).finalMessage();
    expect(streamed.usage.output_tokens).toBe(80);
    app.flushStats();
    const store = new StatsStore(statsFile, { readonly: true });
    const rows = recentRequests(store.db, { limit: 10 });
    store.close();
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.tokens).toEqual({ input: 1200, output: 80, cache_creation: 300, cache_read: 5000 });
      expect(r.endpoint).toBe('up');
      expect(r.ok).toBe(true);
      expect(r.ttfb_ms).toBeGreaterThan(0);
      expect(r.cost_usd).toBeCloseTo(new PriceTable().cost('claude-sonnet-5', USAGE), 10);
      // Not a binary fraction's 17 digits.
      expect(String(r.cost_usd)).toMatch(/^0\.\d{1,9}$/);
      // One clean attempt: stored as its ms alone, read back as the whole chain.
      expect(r.attempts).toEqual([{ endpoint: 'up', status: 200, ms: expect.any(Number), error: null }]);
      expect(r.attempts[0]!.ms).toBeGreaterThan(0);
      expect(r.attempts[0]!.ms).toBeLessThanOrEqual(r.total_ms);
    }
    const stored = new StatsStore(statsFile, { readonly: true });
    const columns = stored.db.prepare('SELECT attempts FROM requests ORDER BY id').pluck().all() as string[];
    stored.close();
    expect(columns.every((c) => /^\d+(\.\d)?$/.test(c))).toBe(true);
    expect(rows.map((r) => r.stream)).toEqual([false, true]);
    // The request id header finds its row.
    expect(rows[0]!.request_id).toBe(json.response.headers.get('x-qcc-request-id'));
  });

  it('qcc stats --json matches a known mix of requests', async () => {
    const { home, url, app, bad } = await setup();
    app.reload({ ...app.config(), endpoints: app.config().endpoints.map((e) => ({ ...e, enabled: true })) });
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    // 6 good requests (each fails over from "bad" until its breaker cools it), 2 caller errors (400), 1 stream.
    for (let i = 0; i < 6; i++) await client.messages.create(MESSAGE);
    await client.messages.stream(MESSAGE).finalMessage();
    for (let i = 0; i < 2; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
      await res.body.dump();
    }
    app.flushStats();
    const r = await runCli(home, ['stats', '--json', '--since', '1h', '--by', 'endpoint']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as ReturnType<typeof summarize>;
    expect(s.total.requests).toBe(9);
    expect(s.total.succeeded).toBe(7);
    expect(s.total.success_rate).toBeCloseTo(7 / 9, 3);
    expect(s.total.failovers).toBe(bad.messageCalls); // every call that reached "bad" was failed over
    expect(s.total.tokens).toEqual({ input: 7 * 1200, output: 7 * 80, cache_creation: 7 * 300, cache_read: 7 * 5000 });
    expect(s.total.cost_usd).toBeCloseTo(7 * new PriceTable().cost('claude-sonnet-5', USAGE), 5);
    expect(s.groups.find((g) => g.key === 'up')!.requests).toBe(7);
    expect(s.groups.find((g) => g.key === '(none)')!.requests).toBe(2);
    const table = await runCli(home, ['stats', '--since', '1h']);
    expect(table.stdout).toMatch(/total\s+9\s+77\.8%/);
    const logs = await runCli(home, ['logs', '--failed', '--json']);
    const failed = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: number; error: string });
    expect(failed).toHaveLength(2);
    expect(failed.every((f) => f.status === 400 && f.error === 'malformedJson')).toBe(true);
  });
});

describe('/metrics', () => {
  it('is valid Prometheus text and its counters move with traffic', async () => {
    const { url } = await setup();
    const scrape = async () => {
      const res = await request(`${url}/metrics`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      return res.body.text();
    };
    const sample = (text: string, name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(name));
      return line ? Number(line.split(' ').at(-1)) : 0;
    };
    const before = await scrape();
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.messages.create(MESSAGE);
    const after = await scrape();
    for (const line of after.split('\n')) {
      if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+|NaN|[+-]Inf$/);
    }
    const key = 'qcc_requests_total{endpoint="up",model="claude-sonnet-5",status="200"}';
    expect(sample(after, key) - sample(before, key)).toBe(3);
    expect(sample(after, 'qcc_tokens_total{endpoint="up",model="claude-sonnet-5",type="cache_read"}')).toBe(15_000);
    expect(after).toContain('qcc_endpoint_state{endpoint="up",state="healthy"} 1');
    expect(after).toContain('qcc_endpoint_state{endpoint="bad",state="disabled"} 1');
    expect(after).toContain('qcc_proxy_overhead_seconds_count 3');
  });
});

describe('store', () => {
  const row = (ts: number, i: number) => ({
    ts, request_id: `r${i}`, method: 'POST', path: '/v1/messages', model: 'm', stream: 0, endpoint_id: 'e', attempts: '[]', attempt_count: 1,
    status: 200, ttfb_ms: 1, total_ms: 2, input_tokens: 1, output_tokens: 1, cache_creation_tokens: 0, cache_read_tokens: 0, cost_usd: 0,
    health_check: 0, error: null, end_reason: 'complete', ttfc_ms: 1.5, hedge: null, client_key: null,
  });

  it('stores every column of a row where it belongs (a different value in each, read back as written)', () => {
    const store = new StatsStore(join(mkdtempSync(join(tmpdir(), 'qcc-columns-')), 'qcc.db'));
    const written = {
      ts: 1_700_000_000_001, request_id: 'req-x', method: 'PUT', path: '/v1/messages/count_tokens', model: 'model-x', stream: 1,
      endpoint_id: 'endpoint-x', attempts: '[{"endpoint":"endpoint-x"}]', attempt_count: 3, status: 529, ttfb_ms: 4.5, total_ms: 6.5,
      input_tokens: 7, output_tokens: 8, cache_creation_tokens: 9, cache_read_tokens: 10, cost_usd: 0.25, health_check: 1, error: 'overloaded',
      end_reason: 'upstream-error', ttfc_ms: 11.5, hedge: '{"outcome":"lost","loser_tokens":13,"estimated":true}', client_key: 'key-x',
    };
    // 120 rows: three statements of the multi-row insert, the last one partial; the marked row is in the middle one.
    store.insertMany(Array.from({ length: 120 }, (_, i) => (i === 77 ? written : row(i, i))));
    const read = store.db.prepare('SELECT * FROM requests WHERE request_id = ?').get('req-x') as Record<string, unknown>;
    expect({ ...read, id: undefined }).toEqual({ ...written, id: undefined });
    expect((store.db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n).toBe(120);
    store.close();
  });

  it('enforces retention and a size cap', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'qcc-prune-')), 'qcc.db');
    const store = new StatsStore(file);
    const now = Date.now();
    store.insertMany([row(now - 40 * 86_400_000, 1), row(now - 10 * 86_400_000, 2), row(now, 3)]);
    expect(store.prune(now, 30, 1e9)).toBe(1);
    store.insertMany(Array.from({ length: 5000 }, (_, i) => ({ ...row(now, i + 10), attempts: 'x'.repeat(200) })));
    store.prune(now, 30, 200 * 1024);
    const left = (store.db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(5000);
    store.close();
  });

  it('answers every query qcc makes of the log through an index or the row id, never a full scan', () => {
    // The log keeps one secondary index (ts); each index is paid on every insert, so this is what justifies
    // having no others. Planned on a log of 20,000 rows over four endpoints, analysed as SQLite would see it.
    const store = new StatsStore(join(mkdtempSync(join(tmpdir(), 'qcc-plan-')), 'qcc.db'));
    const now = Date.now();
    store.insertMany(Array.from({ length: 20_000 }, (_, i) => ({ ...row(now - i * 1000, i), endpoint_id: `e${i % 4}`, model: `m${i % 3}` })));
    store.db.exec('ANALYZE');
    const plan = (sql: string, params: unknown) => (store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((r) => r.detail).join(' | ');
    const log = { afterId: 0, limit: 20, endpoint: 'e1', model: 'm1', status: 200 };
    const queries: [string, unknown][] = [
      [SUMMARY_SQL, [now - 3_600_000]],
      [TIMESERIES_SQL, [now - 3_600_000]],
      [recentRequestsSql({}), log],
      [recentRequestsSql({ endpoint: 'e1' }), log],
      [recentRequestsSql({ failedOnly: true, model: 'm1', status: 200 }), log],
      [recentRequestsSql({ key: 'alice' }), { ...log, clientKey: 'alice' }],
      [KEY_USAGE_SQL, [now - 32 * 86_400_000]],
    ];
    for (const [sql, params] of queries) {
      const p = plan(sql, params);
      expect(p, sql).toMatch(/^SEARCH requests USING (COVERING )?INDEX requests_ts|^SEARCH requests USING INTEGER PRIMARY KEY/);
      expect(p, sql).not.toMatch(/SCAN|TEMP B-TREE/);
    }
    // (KEY_SPEND_SQL, read once at start, sums the keys' spend by day over the retention's month: reading the whole
    // table is the right plan for it, and SQLite takes it.)
    store.close();
  });

  it('upgrades a database written by an older qcc in place, rows kept', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'qcc-migrate-')), 'qcc.db');
    const store = new StatsStore(file);
    store.insertMany([{ ts: 1, request_id: 'r1', method: 'POST', path: '/v1/messages', model: 'm', stream: 0, endpoint_id: 'e', attempts: '[]', attempt_count: 1, status: 200, ttfb_ms: 1, total_ms: 2, input_tokens: 1, output_tokens: 1, cache_creation_tokens: 0, cache_read_tokens: 0, cost_usd: 0, health_check: 0, error: null, end_reason: 'complete', ttfc_ms: null, hedge: null, client_key: null }]);
    // Put the file back to schema 1 as the first release wrote it.
    for (const column of ['ttfc_ms', 'hedge', 'client_key']) store.db.exec(`ALTER TABLE requests DROP COLUMN ${column}`);
    store.db.exec('CREATE INDEX requests_request_id ON requests (request_id)');
    store.db.exec('CREATE INDEX requests_endpoint_ts ON requests (endpoint_id, ts)');
    store.db.pragma('user_version = 1');
    store.close();
    // `qcc stats` reads it read-only, unmigrated (an older proxy may still be writing it): no hedge columns, no error.
    const readOnly = new StatsStore(file, { readonly: true });
    expect(summarize(readOnly.db, 0, 'none').total.hedges).toMatchObject({ sent: 0 });
    expect(recentRequests(readOnly.db)[0]).toMatchObject({ hedge: null, first_content_ms: null, status: 200, key: null });
    expect(recentRequests(readOnly.db, { key: 'alice' })).toEqual([]);
    readOnly.close();
    const upgraded = new StatsStore(file);
    expect(upgraded.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    const indexes = (upgraded.db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map((r) => r.name);
    expect(indexes.sort()).toEqual(['requests_ts']);
    expect((upgraded.db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n).toBe(1);
    // Older rows read as "no hedge, first content unknown".
    expect(upgraded.db.prepare('SELECT ttfc_ms, hedge, client_key FROM requests').get()).toEqual({ ttfc_ms: null, hedge: null, client_key: null });
    upgraded.close();
  });
});

describe('what the request log shows by default', () => {
  it('simulated endpoints cost nothing; health checks stay out of the list unless asked for, and a failed check is not "ok"', async () => {
    const home = mkdtempSync(join(tmpdir(), 'qcc-sim-cost-'));
    const sim = await h.sim({ name: 'demo', behavior: { usage: USAGE } });
    const real = await h.sim({ name: 'real', behavior: { usage: USAGE } });
    const statsFile = join(home, 'qcc.db');
    const { url, app } = await h.proxy(
      { version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('demo', sim, { simulated: true, priority: 0 }), endpoint('real', real, { priority: 1 })] },
      { statsFile },
    );
    const client = new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 });
    await client.messages.create(MESSAGE); // served by the simulated endpoint
    app.pool.update({ ...app.config(), endpoints: app.config().endpoints.map((e) => (e.id === 'demo' ? { ...e, enabled: false } : e)) });
    await client.messages.create(MESSAGE); // served by the real one
    // A health check that fails its verdict with a 200: the answer lacks the expected text.
    real.behavior = { usage: USAGE, answer: '' };
    await app.health.checkEndpoint(app.pool.get('real')!);
    app.flushStats();

    const store = new StatsStore(statsFile, { readonly: true });
    const list = recentRequests(store.db, { limit: 10 });
    const withChecks = recentRequests(store.db, { limit: 10, healthChecks: 'include' });
    const checksOnly = recentRequests(store.db, { limit: 10, healthChecks: 'only' });
    const summary = summarize(store.db, 0, 'endpoint');
    store.close();
    expect(list.map((r) => [r.endpoint, r.health_check])).toEqual([['demo', false], ['real', false]]);
    expect(list[0]!.cost_usd).toBe(0);
    expect(list[1]!.cost_usd).toBeGreaterThan(0);
    expect(withChecks).toHaveLength(3);
    expect(checksOnly).toHaveLength(1);
    expect(checksOnly[0]).toMatchObject({ health_check: true, status: 200, ok: false });
    expect(summary.total.requests).toBe(2);
    expect(summary.groups.find((g) => g.key === 'demo')!.cost_usd).toBe(0);

    const logs = await runCli(home, ['logs']);
    expect(logs.stdout).not.toContain('(health check)');
    const checks = await runCli(home, ['logs', '--health-checks', 'only']);
    expect(checks.stdout.trim().split('\n')).toHaveLength(1);
    expect(checks.stdout).toContain('(health check)');
  });
});

describe('failures in words', () => {
  it('an attempt refused at connect reads "connection refused" in the log, not a class or a status of 0', async () => {
    const home = mkdtempSync(join(tmpdir(), 'qcc-refused-'));
    const dead = await h.sim({ name: 'dead' });
    await dead.close();
    const up = await h.sim({ name: 'up' });
    const { url, app } = await h.proxy(
      { version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('dead', dead, { priority: 0 }), endpoint('up', up, { priority: 1 })] },
      { statsFile: join(home, 'qcc.db') },
    );
    await new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 }).messages.create(MESSAGE);
    app.flushStats();
    const store = new StatsStore(join(home, 'qcc.db'), { readonly: true });
    const [entry] = recentRequests(store.db, { limit: 1 });
    store.close();
    expect(entry!.attempts[0]).toMatchObject({ endpoint: 'dead', status: null, error: 'connect', reason: 'connection refused' });
    expect(entry!.attempts[1]).toMatchObject({ endpoint: 'up', status: 200 });
    expect(entry!.attempts[1]!.reason).toBeUndefined();
  });
});
