import pg from 'pg';
import type { Logger } from '../log.js';
import type { LogEntry } from '../shared/api-types.js';
import type { LogReader } from './log-reader.js';
import {
  KEY_SPEND_SQL,
  KEY_USAGE_OWN_SQL,
  KEY_WINDOW_MS,
  SUMMARY_SQL,
  keyUsageOf,
  logEntriesOf,
  recentRequestsParams,
  recentRequestsSql,
  summaryOf,
  type KeyUsageSqlRow,
  type LogFilter,
  type LogRow,
  type SummaryRow,
} from './query.js';
import type { RowSink } from './recorder.js';
import type { StoredRequest } from './store.js';
import { RANGES, TIMESERIES_SQL, timeseriesOf, type TimeseriesRow } from './timeseries.js';

/**
 * The request log in PostgreSQL, shared by replicas (issue #24): the same rows as the SQLite log, with the replica
 * that served each. Written in batches off the request path (stats/recorder.ts buffers while it is away); read with
 * the same queries as SQLite (written once, in SQLite's parameter style, and numbered here).
 *
 * The client is `pg` (node-postgres): a batch is one INSERT … SELECT FROM unnest(column arrays), which cost 9-10 µs
 * of CPU per row against 39 µs for `postgres`'s row helper (bench/NOTES.md, round 13).
 */

export interface PostgresLogSettings {
  url: string;
  schema: string;
  replicaId: string;
}

/** One schema change per entry, applied in order under an advisory lock (replicas start together). */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE requests (
     id BIGSERIAL PRIMARY KEY,
     ts BIGINT NOT NULL,
     request_id TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     model TEXT,
     stream SMALLINT NOT NULL,
     endpoint_id TEXT,
     attempts TEXT NOT NULL,
     attempt_count INTEGER NOT NULL,
     status INTEGER NOT NULL,
     ttfb_ms DOUBLE PRECISION,
     total_ms DOUBLE PRECISION NOT NULL,
     input_tokens BIGINT NOT NULL,
     output_tokens BIGINT NOT NULL,
     cache_creation_tokens BIGINT NOT NULL,
     cache_read_tokens BIGINT NOT NULL,
     cost_usd DOUBLE PRECISION NOT NULL,
     health_check SMALLINT NOT NULL,
     error TEXT,
     end_reason TEXT,
     ttfc_ms DOUBLE PRECISION,
     hedge TEXT,
     client_key TEXT,
     replica TEXT NOT NULL
   );
   CREATE INDEX requests_ts ON requests (ts);`,
];

export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** Columns in insert order, with the array type each is sent as. */
const COLUMNS: readonly [keyof StoredRequest | 'replica', string][] = [
  ['ts', 'bigint'], ['request_id', 'text'], ['method', 'text'], ['path', 'text'], ['model', 'text'], ['stream', 'smallint'],
  ['endpoint_id', 'text'], ['attempts', 'text'], ['attempt_count', 'integer'], ['status', 'integer'], ['ttfb_ms', 'float8'],
  ['total_ms', 'float8'], ['input_tokens', 'bigint'], ['output_tokens', 'bigint'], ['cache_creation_tokens', 'bigint'],
  ['cache_read_tokens', 'bigint'], ['cost_usd', 'float8'], ['health_check', 'smallint'], ['error', 'text'], ['end_reason', 'text'],
  ['ttfc_ms', 'float8'], ['hedge', 'text'], ['client_key', 'text'], ['replica', 'text'],
];

const INSERT_SQL = `INSERT INTO requests (${COLUMNS.map(([c]) => c).join(', ')})
SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`;

/** int8 (ids, times, token counts) as numbers: every value qcc writes is below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/** SQL written with SQLite's `?` and `@name` parameters, numbered for PostgreSQL, with its values (string literals left alone). */
export function numbered(sql: string, params: readonly unknown[] | Record<string, unknown>): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const named = new Map<string, number>();
  let positional = 0;
  const text = sql.replace(/'(?:[^']|'')*'|\?|@([A-Za-z_][A-Za-z0-9_]*)/g, (m: string, name: string | undefined) => {
    if (m.startsWith("'")) return m;
    if (name === undefined) {
      values.push((params as readonly unknown[])[positional++]);
      return `$${values.length}`;
    }
    let n = named.get(name);
    if (n === undefined) {
      values.push((params as Record<string, unknown>)[name]);
      n = values.length;
      named.set(name, n);
    }
    return `$${n}`;
  });
  return { text, values };
}

/** A connection problem (retry later) rather than a row PostgreSQL refuses (which no retry would fix). */
function unreachable(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string') return true;
  // Class 08: connection exception; 57P: operator intervention (shutdown); 53: insufficient resources.
  return code.startsWith('08') || code.startsWith('57P') || code.startsWith('53') || /^E[A-Z]+$/.test(code);
}

function int(v: number): number {
  return Number.isSafeInteger(v) ? v : Number.isFinite(v) ? Math.round(v) : 0;
}

/** PostgreSQL text cannot hold NUL (a client's model name may): replaced, so one row cannot refuse a batch. */
function text(v: string | null): string | null {
  return v !== null && v.includes('\u0000') ? v.replaceAll('\u0000', '\uFFFD') : v;
}

export class PostgresLog implements LogReader, RowSink {
  private readonly pool: pg.Pool;
  private migrated: Promise<void> | undefined;
  /** The last failure to reach the database, while it lasts. */
  problem: string | undefined;
  /** Rows PostgreSQL refused (not for want of a connection), dropped rather than retried forever. */
  refusedRows = 0;

  constructor(
    private readonly settings: PostgresLogSettings,
    private readonly logger: Logger,
  ) {
    this.pool = new pg.Pool({
      connectionString: settings.url,
      max: 2,
      connectionTimeoutMillis: 3_000,
      idleTimeoutMillis: 30_000,
      statement_timeout: 15_000,
      query_timeout: 20_000,
      application_name: `qcc ${settings.replicaId}`.slice(0, 63),
      // Every query reads and writes the deployment's own schema.
      options: `-c search_path=${settings.schema}`,
      types,
    });
    // An idle connection the server drops must not take the process with it: the next query reconnects.
    this.pool.on('error', (e) => this.logger.warn({ err: e }, 'request log: PostgreSQL connection lost'));
  }

  /** Apply migrations; false (with `problem` set) when the database cannot be reached within `timeoutMs`. */
  async connect(timeoutMs: number): Promise<boolean> {
    const attempt = this.ready().then(
      () => true,
      () => false,
    );
    return Promise.race([attempt, new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
  }

  get up(): boolean {
    return this.problem === undefined && this.migrated !== undefined;
  }

  async insertMany(rows: readonly StoredRequest[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ready();
    const columns: unknown[][] = COLUMNS.map(() => new Array<unknown>(rows.length));
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      let c = 0;
      columns[c++]![i] = int(r.ts);
      columns[c++]![i] = text(r.request_id);
      columns[c++]![i] = text(r.method);
      columns[c++]![i] = text(r.path);
      columns[c++]![i] = text(r.model);
      columns[c++]![i] = r.stream;
      columns[c++]![i] = text(r.endpoint_id);
      columns[c++]![i] = text(r.attempts);
      columns[c++]![i] = int(r.attempt_count);
      columns[c++]![i] = int(r.status);
      columns[c++]![i] = r.ttfb_ms;
      columns[c++]![i] = r.total_ms;
      columns[c++]![i] = int(r.input_tokens);
      columns[c++]![i] = int(r.output_tokens);
      columns[c++]![i] = int(r.cache_creation_tokens);
      columns[c++]![i] = int(r.cache_read_tokens);
      columns[c++]![i] = r.cost_usd;
      columns[c++]![i] = r.health_check;
      columns[c++]![i] = text(r.error);
      columns[c++]![i] = text(r.end_reason);
      columns[c++]![i] = r.ttfc_ms;
      columns[c++]![i] = text(r.hedge);
      columns[c++]![i] = text(r.client_key);
      columns[c++]![i] = this.settings.replicaId;
    }
    try {
      await this.pool.query({ name: 'qcc-insert-requests', text: INSERT_SQL, values: columns });
      this.problem = undefined;
    } catch (e: unknown) {
      if (unreachable(e)) {
        this.problem = e instanceof Error ? e.message || e.name : String(e);
        throw e;
      }
      // PostgreSQL refused these rows themselves: no retry would change that, and they must not block the rest.
      this.refusedRows += rows.length;
      this.logger.error({ err: e, rows: rows.length }, 'request log: PostgreSQL refused a batch of rows; they are dropped');
    }
  }

  /** Rows past retention. (`max_db_mb` is SQLite's: PostgreSQL's size is its administrator's to manage.) */
  async prune(nowMs: number, retentionDays: number): Promise<number> {
    await this.ready();
    const r = await this.pool.query('DELETE FROM requests WHERE ts < $1', [nowMs - retentionDays * 86_400_000]);
    return r.rowCount ?? 0;
  }

  async summary(sinceMs: number, by: Parameters<LogReader['summary']>[1]): ReturnType<LogReader['summary']> {
    return summaryOf(await this.rows<SummaryRow>(SUMMARY_SQL, [sinceMs]), sinceMs, by);
  }

  async recent(filter: LogFilter): Promise<LogEntry[]> {
    const sql = recentRequestsSql(filter).replace('SELECT *,', 'SELECT *, replica,');
    return logEntriesOf(await this.rows<LogRow & { replica: string }>(sql, recentRequestsParams(filter)));
  }

  async timeseries(range: keyof typeof RANGES, now: number): ReturnType<LogReader['timeseries']> {
    return timeseriesOf(await this.rows<TimeseriesRow>(TIMESERIES_SQL, [now - RANGES[range]]), range, now);
  }

  async keyUsage(sinceMs: number, nowMs = Date.now()): Promise<ReturnType<typeof keyUsageOf>> {
    const recent = Math.max(sinceMs, nowMs - KEY_WINDOW_MS);
    const days = await this.rows<KeyUsageSqlRow>(KEY_SPEND_SQL, [sinceMs, recent]);
    // Spend by day from every replica (a budget is the deployment's); the last minutes from this replica's own rows.
    return keyUsageOf([...days, ...(await this.rows<KeyUsageSqlRow>(KEY_USAGE_OWN_SQL, [recent, this.settings.replicaId]))]);
  }

  async maxId(): Promise<number> {
    const [row] = await this.rows<{ id: number | null }>('SELECT max(id) AS id FROM requests', []);
    return row?.id ?? 0;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async rows<T>(sql: string, params: readonly unknown[] | Record<string, unknown>): Promise<T[]> {
    await this.ready();
    const { text: q, values } = numbered(sql, params);
    const r = await this.pool.query(q, values);
    return r.rows as T[];
  }

  /** Migrations, once per process; a failure is retried by the next caller (the database may come back). */
  private ready(): Promise<void> {
    this.migrated ??= this.migrate().then(
      () => {
        this.problem = undefined;
      },
      (e: unknown) => {
        this.migrated = undefined;
        this.problem = e instanceof Error ? e.message || e.name : String(e);
        throw e;
      },
    );
    return this.migrated;
  }

  private async migrate(): Promise<void> {
    const { schema } = this.settings;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Replicas starting together: one migrates, the others wait and find it done.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`qcc-migrate:${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.qcc_schema (version INTEGER NOT NULL)`);
      const current = (await client.query<{ version: number }>(`SELECT version FROM ${schema}.qcc_schema`)).rows[0]?.version ?? 0;
      if (current > PG_SCHEMA_VERSION) throw new Error(`the request log in schema ${schema} was written by a newer qcc (schema ${current} > ${PG_SCHEMA_VERSION}); upgrade qcc`);
      for (let v = current; v < PG_SCHEMA_VERSION; v++) await client.query(MIGRATIONS[v]!.replaceAll('CREATE TABLE requests', `CREATE TABLE ${schema}.requests`).replaceAll('ON requests', `ON ${schema}.requests`));
      if (current === 0) await client.query(`INSERT INTO ${schema}.qcc_schema (version) VALUES ($1)`, [PG_SCHEMA_VERSION]);
      else if (current < PG_SCHEMA_VERSION) await client.query(`UPDATE ${schema}.qcc_schema SET version = $1`, [PG_SCHEMA_VERSION]);
      await client.query('COMMIT');
    } catch (e: unknown) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }
}
