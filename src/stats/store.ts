import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The request log: one row per client request in an embedded SQLite file (WAL, so `qcc stats` can read while
 * the proxy writes). Schema changes are numbered migrations tracked in `PRAGMA user_version`.
 */

export interface StoredRequest {
  ts: number;
  request_id: string;
  method: string;
  path: string;
  model: string | null;
  stream: number;
  endpoint_id: string | null;
  /**
   * JSON: the attempts as an array (endpoint, status, ms, error class), or, when the request was one attempt that
   * succeeded on `endpoint_id` with `status`, only that attempt's ms as a number (schema 4). Read it with
   * `attemptChain` (stats/query.ts).
   */
  attempts: string;
  attempt_count: number;
  status: number;
  ttfb_ms: number | null;
  total_ms: number;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number;
  health_check: number;
  error: string | null;
  end_reason: string | null;
  /** From arrival to the first content the client received (schema 5). */
  ttfc_ms: number | null;
  /**
   * JSON (StoredHedge) when a hedge was sent, else NULL: one column that is NULL for nearly every row, which costs an
   * insert far less than four that are always written.
   */
  hedge: string | null;
  /** Who called: a client key's name or `access_keys[N]` (schema 6); NULL on an open proxy. */
  client_key: string | null;
}

/** The `hedge` column of a hedged request. */
export interface StoredHedge {
  outcome: 'won' | 'lost' | 'none';
  /** A won hedge's time saved (see HedgeRecord.savedMs). */
  saved_ms?: number;
  /** Input tokens the abandoned attempt may have cost, and whether that is an estimate. */
  loser_tokens: number;
  estimated: boolean;
}

/** The `hedge` column read back; a value that is not one (written by hand) reads as a hedge of unknown outcome. */
export function parseHedge(text: string): StoredHedge {
  try {
    const v = JSON.parse(text) as Partial<StoredHedge>;
    return { outcome: v.outcome ?? 'none', loser_tokens: v.loser_tokens ?? 0, estimated: v.estimated ?? true, ...(v.saved_ms !== undefined && { saved_ms: v.saved_ms }) };
  } catch {
    return { outcome: 'none', loser_tokens: 0, estimated: true };
  }
}

const MIGRATIONS: string[] = [
  `CREATE TABLE requests (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     request_id TEXT NOT NULL,
     method TEXT NOT NULL,
     path TEXT NOT NULL,
     model TEXT,
     stream INTEGER NOT NULL,
     endpoint_id TEXT,
     attempts TEXT NOT NULL,
     attempt_count INTEGER NOT NULL,
     status INTEGER NOT NULL,
     ttfb_ms REAL,
     total_ms REAL NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_creation_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     cost_usd REAL NOT NULL,
     health_check INTEGER NOT NULL,
     error TEXT,
     end_reason TEXT
   );
   CREATE INDEX requests_ts ON requests (ts);
   CREATE INDEX requests_request_id ON requests (request_id);
   CREATE INDEX requests_endpoint_ts ON requests (endpoint_id, ts);`,
  // No query looks rows up by request id (they are listed by time and endpoint), and this index cost a fifth of
  // every insert: a request id is found with a scan, which `qcc logs` never needs.
  `DROP INDEX IF EXISTS requests_request_id;`,
  // Nor by endpoint and time: the log's endpoint filter walks ids newest first (SQLite's plan, even with this index
  // there), and summaries read a time range through requests_ts. It cost ~15% of every insert and its pages in
  // every batch written to the WAL.
  `DROP INDEX IF EXISTS requests_endpoint_ts;`,
  // No change to the table: from this version on, `attempts` may hold a single attempt's ms instead of the array
  // (see StoredRequest). The version is raised so that an older qcc, which would misread those rows, refuses the
  // file instead.
  `SELECT 1;`,
  // Hedging (#22): the client's time to first content, and each hedge's outcome, time saved and abandoned tokens.
  `ALTER TABLE requests ADD COLUMN ttfc_ms REAL;
   ALTER TABLE requests ADD COLUMN hedge TEXT;`,
  // Client keys (#23): who made each request, by the key's name. No index: per-key queries read a time range
  // through requests_ts, and an index would cost every insert (see the two dropped above).
  `ALTER TABLE requests ADD COLUMN client_key TEXT;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The schemas that added the hedge columns and the client key. */
const HEDGE_SCHEMA = MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN ttfc_ms')) + 1;
const KEY_SCHEMA = MIGRATIONS.findIndex((m) => m.includes('ADD COLUMN client_key')) + 1;
/** Columns later schemas added, selected by name in queries that `forSchema` adapts. */
export const ADDED_COLUMNS = 'ttfc_ms, hedge, client_key';
/** The key filter of a query (`qcc logs --key`); a file older than client keys has no keyed rows. */
export const KEY_FILTER = 'client_key = @clientKey';

/**
 * A query for this file's schema: `qcc stats` opens the log read-only and never migrates it, so a file an older
 * proxy still writes lacks the newer columns; they read as "none" there.
 */
export function forSchema(db: Database.Database, sql: string): string {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version >= KEY_SCHEMA) return sql;
  const columns = version >= HEDGE_SCHEMA ? 'ttfc_ms, hedge, NULL AS client_key' : 'NULL AS ttfc_ms, NULL AS hedge, NULL AS client_key';
  return sql.replace(ADDED_COLUMNS, columns).replace(KEY_FILTER, '0');
}

/** Rows per INSERT statement (23 columns each, well under SQLite's limit of 32,766 parameters). */
const INSERT_CHUNK = 50;

const COLUMNS: readonly (keyof StoredRequest)[] = [
  'ts', 'request_id', 'method', 'path', 'model', 'stream', 'endpoint_id', 'attempts', 'attempt_count', 'status', 'ttfb_ms', 'total_ms',
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_read_tokens', 'cost_usd', 'health_check', 'error', 'end_reason',
  'ttfc_ms', 'hedge', 'client_key',
];

/**
 * Put a row's values at `values[at…]` in COLUMNS order; returns the index after them. Written out column by
 * column: reading each row by the column's name in a loop cost ~0.35 µs a row, ten times this.
 * (A test inserts a row with a different value in every column and reads it back.)
 */
function putValues(r: StoredRequest, values: unknown[], at: number): number {
  let k = at;
  values[k++] = r.ts;
  values[k++] = r.request_id;
  values[k++] = r.method;
  values[k++] = r.path;
  values[k++] = r.model;
  values[k++] = r.stream;
  values[k++] = r.endpoint_id;
  values[k++] = r.attempts;
  values[k++] = r.attempt_count;
  values[k++] = r.status;
  values[k++] = r.ttfb_ms;
  values[k++] = r.total_ms;
  values[k++] = r.input_tokens;
  values[k++] = r.output_tokens;
  values[k++] = r.cache_creation_tokens;
  values[k++] = r.cache_read_tokens;
  values[k++] = r.cost_usd;
  values[k++] = r.health_check;
  values[k++] = r.error;
  values[k++] = r.end_reason;
  values[k++] = r.ttfc_ms;
  values[k++] = r.hedge;
  values[k++] = r.client_key;
  return k;
}

export class StatsStore {
  readonly db: Database.Database;
  private readonly inserts = new Map<number, Database.Statement<unknown[]>>();

  constructor(file: string, opts: { readonly?: boolean } = {}) {
    if (!opts.readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    // The log is the user's (models, endpoints, timings): made 0600 like every other file qcc writes, before
    // SQLite opens it (its -wal and -shm files take the same mode).
    if (!(opts.readonly ?? false)) {
      if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
      // One made by an older qcc (0644) is tightened too, with its companions.
      else for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
    }
    this.db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a crash cannot corrupt the file; at worst the last transactions are lost.
      this.db.pragma('synchronous = NORMAL');
      // Checkpoint every ~40 MB of WAL instead of SQLite's 4 MB: the log's hot pages (the table's last page, the
      // index tails) are copied back once per checkpoint however often they changed, so fewer checkpoints cost
      // less per row. The WAL file is trimmed back to 64 MB after each one.
      this.db.pragma('wal_autocheckpoint = 10000');
      this.db.pragma('journal_size_limit = 67108864');
      this.migrate();
    }
    this.db.pragma('busy_timeout = 2000');
  }

  /**
   * A multi-row INSERT for `n` rows, prepared once per size: one statement step per chunk instead of per row.
   * Parameters are positional, since binding by name costs a lookup per column on every row.
   */
  private insertFor(n: number): Database.Statement<unknown[]> {
    let stmt = this.inserts.get(n);
    if (!stmt) {
      const tuple = `(${COLUMNS.map(() => '?').join(', ')})`;
      stmt = this.db.prepare(`INSERT INTO requests (${COLUMNS.join(', ')}) VALUES ${Array.from({ length: n }, () => tuple).join(', ')}`);
      this.inserts.set(n, stmt);
    }
    return stmt;
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > SCHEMA_VERSION) {
      throw new Error(`the stats database was written by a newer qcc (schema ${current} > ${SCHEMA_VERSION}); upgrade qcc`);
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  insertMany(rows: readonly StoredRequest[]): void {
    if (rows.length === 0) return;
    this.db.transaction((batch: readonly StoredRequest[]) => {
      for (let i = 0; i < batch.length; i += INSERT_CHUNK) {
        const end = Math.min(batch.length, i + INSERT_CHUNK);
        const values: unknown[] = new Array((end - i) * COLUMNS.length);
        for (let j = i, at = 0; j < end; j++) at = putValues(batch[j]!, values, at);
        this.insertFor(end - i).run(values);
      }
    })(rows);
  }

  /** Drop rows past retention, then the oldest until the file is under the size cap. Returns rows deleted. */
  prune(nowMs: number, retentionDays: number, maxBytes: number): number {
    let deleted = this.db.prepare('DELETE FROM requests WHERE ts < ?').run(nowMs - retentionDays * 86_400_000).changes;
    const size = () => (this.db.pragma('page_count', { simple: true }) as number) * (this.db.pragma('page_size', { simple: true }) as number);
    for (let round = 0; round < 20 && size() > maxBytes; round++) {
      const count = this.db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number };
      if (count.n === 0) break;
      const n = Math.max(1, Math.ceil(count.n / 10));
      deleted += this.db.prepare('DELETE FROM requests WHERE id IN (SELECT id FROM requests ORDER BY id LIMIT ?)').run(n).changes;
      this.db.exec('VACUUM');
    }
    return deleted;
  }

  close(): void {
    this.db.close();
  }
}
