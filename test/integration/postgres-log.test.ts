import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { silentLogger } from '../../src/log.js';
import { sqliteReader } from '../../src/stats/log-reader.js';
import { PostgresLog, numbered } from '../../src/stats/postgres-log.js';
import { StatsStore, type StoredRequest } from '../../src/stats/store.js';
import { Harness, endpoint, eventually, sleep, postMessage as post } from '../helpers/servers.js';
import { prng } from '../helpers/prng.js';
import { startTcpRelay } from '../helpers/tcp-relay.js';

/**
 * The request log in PostgreSQL (#24), against this machine's PostgreSQL: each test writes to a schema of its own,
 * dropped at the end.
 */

const PG_URL = process.env.QCC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MODEL = 'claude-haiku-4-5-20251001';

const harness = new Harness();
afterEach(() => harness.closeAll());
const schemas: string[] = [];
afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await c.end();
});

function newSchema(): string {
  const s = `qcc_test_${randomBytes(5).toString('hex')}`;
  schemas.push(s);
  return s;
}

/** Rows with a different value in every column, hedges, failovers, keys, health checks and hostile text among them. */
function rows(n: number, seed: number, now: number): StoredRequest[] {
  const r = prng(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const failover = r() < 0.2;
    const ms = Math.round(r() * 5000) / 10;
    return {
      ts: now - Math.floor(r() * 3_000_000),
      request_id: `req_${seed}_${i}`,
      method: 'POST',
      path: pick(['/v1/messages', '/v1/messages', '/v1/messages/count_tokens']),
      model: pick([MODEL, 'claude-sonnet-4-5', null, 'evil\u0000model']),
      stream: r() < 0.5 ? 1 : 0,
      endpoint_id: pick(['a', 'b', null]),
      attempts: failover ? JSON.stringify([{ endpoint: 'b', status: 529, ms: 12.5, error: 'overloaded' }, { endpoint: 'a', status: 200, ms, error: null }]) : String(ms),
      attempt_count: failover ? 2 : 1,
      status: pick([200, 200, 200, 429, 529, 0]),
      ttfb_ms: r() < 0.9 ? Math.round(r() * 3000) / 10 : null,
      total_ms: ms + 1,
      input_tokens: Math.floor(r() * 5000),
      output_tokens: Math.floor(r() * 900),
      cache_creation_tokens: Math.floor(r() * 300),
      cache_read_tokens: Math.floor(r() * 9000),
      cost_usd: Math.round(r() * 1e6) / 1e8,
      health_check: r() < 0.1 ? 1 : 0,
      error: pick([null, null, 'key-rpm', 'upstreamTimeout']),
      end_reason: pick(['complete', 'complete', 'truncated', null]),
      ttfc_ms: r() < 0.8 ? Math.round(r() * 4000) / 10 : null,
      hedge: r() < 0.1 ? JSON.stringify({ outcome: pick(['won', 'lost']), saved_ms: 120.5, loser_tokens: 40, estimated: false }) : null,
      client_key: pick(['alice', 'bob', null]),
    };
  });
}

describe('PostgreSQL request log', () => {
  it('reads back what SQLite reads back: the same summaries, log entries, charts and key usage', async () => {
    const now = Date.now();
    const data = rows(400, 7, now);
    const sqlite = new StatsStore(join(mkdtempSync(join(tmpdir(), 'qcc-pg-')), 'qcc.db'));
    // PostgreSQL text cannot hold a NUL: it stores the replacement character, which SQLite is given too.
    sqlite.insertMany(data.map((r) => ({ ...r, model: r.model?.replace('\u0000', '\uFFFD') ?? null })));
    const lite = sqliteReader(sqlite.db);
    const schema = newSchema();
    const log = new PostgresLog({ url: PG_URL, schema, replicaId: 'r1' }, silentLogger());
    expect(await log.connect(5_000)).toBe(true);
    await log.insertMany(data);
    try {
      for (const by of ['endpoint', 'model', 'day', 'key', 'none'] as const) expect(await log.summary(now - 3_600_000, by)).toEqual(await lite.summary(now - 3_600_000, by));
      const filters = [{ limit: 50 }, { limit: 500, failedOnly: true }, { limit: 20, key: 'alice' }, { limit: 30, healthChecks: 'only' as const }, { limit: 10, endpoint: 'b', status: 529 }, { limit: 5, model: MODEL, beforeId: 200 }];
      for (const f of filters) {
        const fromPg = await log.recent(f);
        expect(fromPg.length).toBeGreaterThan(0);
        for (const e of fromPg) expect(e.replica).toBe('r1');
        // The same entries, with the replica PostgreSQL adds.
        expect(fromPg.map(({ replica: _r, ...e }) => e)).toEqual(await lite.recent(f));
      }
      for (const range of ['1h', '24h'] as const) expect(await log.timeseries(range, now)).toEqual(await lite.timeseries(range, now));
      // Sums of a day's spend: the same to the nano-dollar (the two databases add in different orders).
      const nano = (rows: { usd: number }[]) => rows.map((r) => ({ ...r, usd: Math.round(r.usd * 1e9) }));
      const usage = await log.keyUsage(now - 3_600_000, now);
      expect(nano(usage)).toEqual(nano(await lite.keyUsage(now - 3_600_000, now)));
      // Older than two minutes: one row per key and day; newer: one per request.
      expect(usage.filter((r) => r.startedAt < now - 120_000).length).toBeLessThanOrEqual(4);
      expect(usage.filter((r) => r.startedAt >= now - 120_000).length).toBeGreaterThan(0);
      // Another replica starting reads the same spend by day, but only its own last minutes (it has none).
      const other = new PostgresLog({ url: PG_URL, schema, replicaId: 'r2' }, silentLogger());
      try {
        const theirs = await other.keyUsage(now - 3_600_000, now);
        expect(theirs.filter((r) => r.startedAt >= now - 120_000)).toEqual([]);
        expect(nano(theirs)).toEqual(nano(usage.filter((r) => r.startedAt < now - 120_000)));
      } finally {
        await other.close();
      }
      expect(await log.maxId()).toBe(400);
      expect((await log.recent({ limit: 400 })).some((e) => e.model === 'evil\uFFFDmodel')).toBe(true);
    } finally {
      sqlite.close();
      await log.close();
    }
  });

  it('replicas starting together migrate the schema once, and retention prunes old rows', async () => {
    const schema = newSchema();
    const logs = [1, 2, 3].map((i) => new PostgresLog({ url: PG_URL, schema, replicaId: `r${i}` }, silentLogger()));
    expect(await Promise.all(logs.map((l) => l.connect(5_000)))).toEqual([true, true, true]);
    const now = Date.now();
    await logs[0]!.insertMany([{ ...rows(1, 1, now)[0]!, ts: now - 40 * 86_400_000 }, ...rows(3, 2, now)]);
    expect(await logs[1]!.prune(now, 30)).toBe(1);
    expect(await logs[2]!.maxId()).toBe(4);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const version = await c.query(`SELECT version FROM ${schema}.qcc_schema`);
    await c.end();
    expect(version.rows).toEqual([{ version: 1 }]);
    await Promise.all(logs.map((l) => l.close()));
  });

  it('numbers SQLite-style parameters for PostgreSQL, a name used twice keeping one number', () => {
    expect(numbered('SELECT * FROM t WHERE a > ? AND b = ?', [1, 'x'])).toEqual({ text: 'SELECT * FROM t WHERE a > $1 AND b = $2', values: [1, 'x'] });
    expect(numbered("SELECT 'a?@x''s' , id FROM t WHERE id > @after AND k = @key AND id < @after", { after: 5, key: 'k', unused: 1 })).toEqual({
      text: "SELECT 'a?@x''s' , id FROM t WHERE id > $1 AND k = $2 AND id < $1",
      values: [5, 'k'],
    });
  });

  it('two replicas write one log: qcc stats on any of them counts both', async () => {
    const schema = newSchema();
    const sim = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const apps = [];
    for (const id of ['a', 'b']) {
      const { app, url } = await harness.proxy(config, { stores: { replicaId: id, redis: undefined, postgres: { url: PG_URL, schema } } });
      expect(await app.connectStores(5_000)).toBe(true);
      apps.push({ app, url });
    }
    for (let i = 0; i < 6; i++) await post(apps[i % 2]!.url);
    for (const { app } of apps) await app.drainStats();
    const log = new PostgresLog({ url: PG_URL, schema, replicaId: 'reader' }, silentLogger());
    const summary = await log.summary(Date.now() - 60_000, 'none');
    const entries = await log.recent({ limit: 10 });
    await log.close();
    expect(summary.total.requests).toBe(6);
    expect(entries.map((e) => e.replica).sort()).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    expect(apps[0]!.app.status().stores.stats).toMatchObject({ backend: 'postgres', state: 'ok', buffered: 0, dropped: 0 });
  });

  it('PostgreSQL cut off: requests are unaffected, rows are buffered, and all are written when it returns', async () => {
    const relay = await startTcpRelay({ host: '127.0.0.1', port: 5432 });
    harness.onClose(() => relay.close());
    const schema = newSchema();
    const sim = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, stats: { flush_ms: 50 }, endpoints: [endpoint('sim', sim)] });
    const { app, url } = await harness.proxy(config, { stores: { replicaId: 'cut', redis: undefined, postgres: { url: `postgres://postgres@127.0.0.1:${relay.port}/test`, schema } } });
    expect(await app.connectStores(5_000)).toBe(true);
    for (let i = 0; i < 5; i++) expect((await post(url)).status).toBe(200);
    await app.drainStats();
    await relay.cut();
    const timings: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t0 = performance.now();
      expect((await post(url)).status).toBe(200);
      timings.push(performance.now() - t0);
    }
    await eventually(() => app.status().stores.stats.state === 'degraded', 5_000, 50);
    const stats = app.status().stores.stats;
    expect(stats.buffered).toBeGreaterThan(0);
    expect(stats.error).toBeTruthy();
    expect(await app.metrics.render()).toMatch(/^qcc_stats_rows_buffered [1-9]\d*$/m);
    expect(await app.metrics.render()).toContain('qcc_store_up{store="stats",backend="postgres",replica="cut"} 0');
    // Not one request waited for the database.
    expect(Math.max(...timings)).toBeLessThan(500);
    await relay.restore();
    await eventually(() => app.status().stores.stats.buffered === 0 && app.status().stores.stats.state === 'ok', 10_000, 100);
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    const count = await c.query(`SELECT count(*)::int AS n FROM ${schema}.requests`);
    await c.end();
    expect(count.rows[0].n).toBe(45);
    expect(app.status().stores.stats.dropped).toBe(0);
  });

  it('a replica that starts with PostgreSQL unreachable serves, buffers and says why (password masked)', async () => {
    const sim = await harness.sim();
    const config = configSchema.parse({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint('sim', sim)] });
    const { app, url } = await harness.proxy(config, { stores: { replicaId: 'x', redis: undefined, postgres: { url: 'postgres://qcc:hunter2pw@127.0.0.1:1/test', schema: newSchema() } } });
    expect(await app.connectStores(1_000)).toBe(false);
    expect((await post(url)).status).toBe(200);
    await sleep(100);
    app.flushStats();
    await eventually(() => app.status().stores.stats.state === 'degraded', 5_000, 50);
    const stats = app.status().stores.stats;
    expect(stats.url).not.toContain('hunter2pw');
    expect(stats.error).toMatch(/ECONNREFUSED|connect/);
  });
});

