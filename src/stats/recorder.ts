import type { StatsSettings } from '../config/schema.js';
import type { ProxyObserver, RequestRecord } from '../proxy/events.js';
import type { Logger } from '../log.js';
import type { PriceTable } from './pricing.js';
import type { StoredHedge, StoredRequest } from './store.js';
import type { HedgeRecord } from '../proxy/events.js';

function hedgeJson(h: HedgeRecord): string {
  const stored: StoredHedge = { outcome: h.outcome, loser_tokens: h.loserTokens, estimated: h.loserTokensEstimated };
  if (h.savedMs !== undefined) stored.saved_ms = Math.round(h.savedMs * 10) / 10;
  return JSON.stringify(stored);
}

const MAX_BATCH = 1_000;
/**
 * Rows kept in memory while the database refuses writes (disk full, locked, unreachable): the first of an outage
 * are kept, and rows beyond the bound are counted as dropped (status, `qcc_stats_rows_dropped_total`).
 */
export const MAX_PENDING = 50_000;
/** Wait before writing again after a failed write. */
const RETRY_MS = 2_000;

/**
 * Where rows go: the SQLite file (synchronous, a few ms a batch) or PostgreSQL (a round trip; the recorder keeps at
 * most one batch in flight and buffers behind it).
 */
export interface RowSink {
  insertMany(rows: readonly StoredRequest[]): void | Promise<void>;
  prune(nowMs: number, retentionDays: number, maxBytes: number): number | Promise<number>;
}
const PRUNE_EVERY_MS = 10 * 60_000;

/** JSON string literals of endpoint ids and error classes: a handful of distinct values, quoted once each. */
const quoted = new Map<string, string>();
function jsonString(value: string): string {
  let q = quoted.get(value);
  if (q === undefined) {
    if (quoted.size >= 1_000) quoted.clear();
    q = JSON.stringify(value);
    quoted.set(value, q);
  }
  return q;
}

/**
 * Milliseconds to one decimal, as JSON.stringify(Math.round(ms * 10) / 10) writes them, but from integers: the
 * double-to-shortest-decimal conversion a fraction needs was the largest cost of a row.
 */
function tenths(ms: number): string {
  const t = Math.round(ms * 10);
  if (!(t >= 0 && t < 1e15)) return Number.isFinite(t) ? String(t / 10) : 'null';
  const digit = t % 10;
  return digit === 0 ? String(t / 10) : `${(t - digit) / 10}.${digit}`;
}

/**
 * The attempt chain as JSON text, written out rather than built as objects for JSON.stringify (this runs for every
 * request). Same text JSON.stringify would give.
 */
export function attemptsJson(attempts: RequestRecord['attempts']): string {
  let out = '[';
  for (let i = 0; i < attempts.length; i++) {
    const a = attempts[i]!;
    if (i > 0) out += ',';
    out += `{"endpoint":${jsonString(a.endpointId)},"status":${a.status ?? 'null'},"ms":${tenths(a.ms)},"error":${a.error === undefined ? 'null' : jsonString(a.error)}`;
    if (a.message !== undefined) out += `,"message":${jsonString(a.message)}`;
    if (a.hedge === true) out += ',"hedge":true';
    out += a.lost === true ? ',"lost":true}' : '}';
  }
  return `${out}]`;
}

/** The error of a request: its own code, else the last attempt's. */
function lastError(r: RequestRecord): string | null {
  if (r.errorCode !== undefined) return r.errorCode;
  for (let i = r.attempts.length - 1; i >= 0; i--) {
    const e = r.attempts[i]!.error;
    if (e !== undefined) return e;
  }
  return null;
}

/**
 * The row's `attempts` column. Almost every request is one attempt that succeeded on the row's endpoint with the
 * row's status: for those, just that attempt's milliseconds (a JSON number), which `attemptChain` expands again.
 * A quarter of the row's bytes, and ~0.5 µs of every insert, went to repeating what the row already says.
 */
export function attemptsColumn(r: RequestRecord): string {
  const a = r.attempts.length === 1 ? r.attempts[0]! : undefined;
  if (a !== undefined && a.error === undefined && a.status === r.status && a.endpointId === r.endpointId && Number.isFinite(a.ms)) return tenths(a.ms);
  return attemptsJson(r.attempts);
}

export function toRow(r: RequestRecord, prices: PriceTable): StoredRequest {
  const u = r.usage;
  return {
    ts: r.startedAt,
    request_id: r.requestId,
    method: r.method,
    path: r.path,
    model: r.model ?? null,
    stream: r.stream ? 1 : 0,
    endpoint_id: r.endpointId ?? null,
    attempts: attemptsColumn(r),
    attempt_count: r.attempts.length,
    status: r.status,
    ttfb_ms: r.ttfbMs ?? null,
    total_ms: r.totalMs,
    input_tokens: u?.input_tokens ?? 0,
    output_tokens: u?.output_tokens ?? 0,
    cache_creation_tokens: u?.cache_creation_input_tokens ?? 0,
    cache_read_tokens: u?.cache_read_input_tokens ?? 0,
    cost_usd: prices.requestCost(r),
    health_check: r.healthCheck ? 1 : 0,
    error: lastError(r),
    end_reason: r.end ?? null,
    ttfc_ms: r.firstContentMs ?? null,
    hedge: r.hedge === undefined ? null : hedgeJson(r.hedge),
    client_key: r.clientKey ?? null,
  };
}

/**
 * Turns request records into rows, written in batches on a timer: the request path only pushes onto an array.
 * A `kill -9` loses at most the rows of the last flush window; SQLite's WAL keeps the file consistent.
 */
export class StatsRecorder implements ProxyObserver {
  private pending: StoredRequest[] = [];
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  /** A batch is being written (asynchronous sinks): the next waits for it, so rows stay in order and bounded. */
  private writing: Promise<void> | undefined;
  /** Rows of the batch being written: still only in memory until it succeeds. */
  private inFlight = 0;
  /** Rows dropped because the buffer was full while the database was away; counted for status and metrics. */
  dropped = 0;
  /** The last write failed (and when the next try is): the database is away or refusing. */
  failing: { since: number; error: string } | undefined;

  constructor(
    private readonly store: RowSink,
    private readonly prices: () => PriceTable,
    private readonly settings: () => StatsSettings,
    private readonly logger: Logger,
  ) {
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruneTimer.unref();
    this.prune();
  }

  requestFinished(record: RequestRecord): void {
    if (!this.settings().enabled) return;
    if (this.pending.length + this.inFlight >= MAX_PENDING) {
      // The database has been away long enough to fill the buffer: this row is counted, not kept.
      this.dropped++;
      return;
    }
    this.pending.push(toRow(record, this.prices()));
    if (this.pending.length >= MAX_BATCH) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.settings().flush_ms);
      this.timer.unref();
    }
  }

  /** Rows waiting to be written (the batch being written included). */
  get buffered(): number {
    return this.pending.length + this.inFlight;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.writing) return;
    const batch = this.pending.length > MAX_BATCH * 10 ? this.pending.splice(0, MAX_BATCH * 10) : this.pending;
    if (batch === this.pending) this.pending = [];
    let written: void | Promise<void>;
    try {
      written = this.store.insertMany(batch);
    } catch (e: unknown) {
      return this.failed(batch, e);
    }
    if (!(written instanceof Promise)) {
      this.succeeded();
      if (this.pending.length > 0) this.flush();
      return;
    }
    this.inFlight = batch.length;
    this.writing = written.then(
      () => {
        this.writing = undefined;
        this.inFlight = 0;
        this.succeeded();
        if (this.pending.length > 0) this.flush();
      },
      (e: unknown) => {
        this.writing = undefined;
        this.inFlight = 0;
        this.failed(batch, e);
      },
    );
  }

  /** Write everything buffered now and wait for it (shutdown, tests); gives up after `timeoutMs`. */
  async drain(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.pending.length > 0 || this.writing) && Date.now() < deadline) {
      if (!this.writing) this.flush();
      await Promise.race([this.writing, new Promise((r) => setTimeout(r, 50))]);
      if (this.failing) break;
    }
  }

  private succeeded(): void {
    if (this.failing) this.logger.info({ since: new Date(this.failing.since).toISOString() }, 'the request log is written again');
    this.failing = undefined;
  }

  private failed(batch: StoredRequest[], e: unknown): void {
    const error = e instanceof Error ? e.message : String(e);
    if (!this.failing) this.logger.warn({ err: e, rows: batch.length }, 'could not write request rows; keeping them and trying again');
    this.failing = { since: this.failing?.since ?? Date.now(), error };
    const all = [...batch, ...this.pending];
    const over = all.length - MAX_PENDING;
    if (over > 0) {
      this.dropped += over;
      this.logger.warn({ dropped: over, total_dropped: this.dropped }, 'request log buffer full: newest rows dropped');
    }
    this.pending = over > 0 ? all.slice(0, MAX_PENDING) : all;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), RETRY_MS);
    this.timer.unref();
  }

  prune(): void {
    const s = this.settings();
    const warn = (e: unknown) => this.logger.warn({ err: e }, 'could not prune the request log');
    try {
      const deleted = this.store.prune(Date.now(), s.retention_days, s.max_db_mb * 1024 * 1024);
      const report = (n: number) => n > 0 && this.logger.info({ deleted: n }, 'pruned old request rows');
      if (deleted instanceof Promise) deleted.then(report, warn);
      else report(deleted);
    } catch (e: unknown) {
      warn(e);
    }
  }

  close(): void {
    clearInterval(this.pruneTimer);
    this.flush();
  }
}
