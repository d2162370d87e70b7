import type Database from 'better-sqlite3';
import { forSchema, ADDED_COLUMNS, KEY_FILTER, parseHedge, type StoredHedge, type StoredRequest } from './store.js';
import type { HedgeSummary, LogEntry } from '../shared/api-types.js';
import { errnoInWords } from '../shared/errno-text.js';

/** Reading the request log, for `qcc stats`, `qcc logs` and the dashboard. Works with or without a running proxy. */

export type GroupBy = 'endpoint' | 'model' | 'day' | 'key' | 'none';

const RELATIVE = /^(\d+(?:\.\d+)?)\s*(m|h|d|w)$/i;
const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `1h`, `24h`, `7d`, `30m`, `2w`, or a date/time (`2026-11-01`, ISO 8601). */
export function parseSince(value: string, now = Date.now()): number {
  const rel = RELATIVE.exec(value.trim());
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]!.toLowerCase()]!;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new Error(`--since "${value}" is neither a duration (30m, 24h, 7d) nor a date (2026-11-01)`);
  return t;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface GroupSummary {
  key: string;
  requests: number;
  succeeded: number;
  success_rate: number | null;
  failovers: number;
  latency_ms: Percentiles;
  ttfb_ms: Percentiles;
  /** Time to the first content the client received: what a Claude Code user feels. */
  first_content_ms: Percentiles;
  hedges: HedgeSummary;
  tokens: { input: number; output: number; cache_creation: number; cache_read: number };
  cost_usd: number;
  /** Refused by a client key's own limits (rpm, tpm, budget, model), before any upstream. */
  refused: number;
}

export interface StatsSummary {
  since: string;
  by: GroupBy;
  total: GroupSummary;
  groups: GroupSummary[];
  /** Health-check traffic, counted apart from client traffic. */
  health_checks: { requests: number; tokens: number; cost_usd: number };
}

type Row = Pick<
  StoredRequest,
  | 'ts' | 'model' | 'endpoint_id' | 'attempt_count' | 'status' | 'end_reason' | 'ttfb_ms' | 'total_ms'
  | 'input_tokens' | 'output_tokens' | 'cache_creation_tokens' | 'cache_read_tokens' | 'cost_usd' | 'health_check'
  | 'ttfc_ms' | 'hedge' | 'client_key' | 'error'
>;

/** A request refused by its client key's limits (its error is `key-rpm`, `key-tpm`, `key-budget` or `key-model`). */
export function refusedByKey(row: Pick<Row, 'error'>): boolean {
  return row.error !== null && row.error.startsWith('key-');
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function percentiles(values: number[]): Percentiles {
  const s = values.sort((a, b) => a - b);
  const r = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return { p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)) };
}

export function succeeded(row: Pick<Row, 'status' | 'end_reason'>): boolean {
  return row.status >= 200 && row.status < 300 && (row.end_reason === null || row.end_reason === 'complete');
}

function summarizeRows(key: string, rows: Row[]): GroupSummary {
  const ok = rows.filter(succeeded);
  return {
    key,
    requests: rows.length,
    succeeded: ok.length,
    success_rate: rows.length === 0 ? null : Math.round((ok.length / rows.length) * 10_000) / 10_000,
    failovers: rows.reduce((n, r) => n + failoversOf(r), 0),
    latency_ms: percentiles(ok.map((r) => r.total_ms)),
    ttfb_ms: percentiles(ok.filter((r) => r.ttfb_ms !== null).map((r) => r.ttfb_ms!)),
    first_content_ms: percentiles(ok.filter((r) => r.ttfc_ms !== null).map((r) => r.ttfc_ms!)),
    hedges: hedgeSummary(rows),
    tokens: {
      input: rows.reduce((n, r) => n + r.input_tokens, 0),
      output: rows.reduce((n, r) => n + r.output_tokens, 0),
      cache_creation: rows.reduce((n, r) => n + r.cache_creation_tokens, 0),
      cache_read: rows.reduce((n, r) => n + r.cache_read_tokens, 0),
    },
    cost_usd: Math.round(rows.reduce((n, r) => n + r.cost_usd, 0) * 1e6) / 1e6,
    refused: rows.filter(refusedByKey).length,
  };
}

/** Attempts that failed and made way for another: every attempt after the first, but a hedge, which is no failure. */
export function failoversOf(r: Pick<Row, 'attempt_count' | 'hedge'>): number {
  return Math.max(0, r.attempt_count - 1 - (r.hedge === null ? 0 : 1));
}

export function hedgeSummary(rows: readonly Pick<Row, 'hedge'>[]): HedgeSummary {
  let sent = 0;
  let won = 0;
  let saved = 0;
  let tokens = 0;
  for (const r of rows) {
    if (r.hedge === null) continue;
    const h = parseHedge(r.hedge);
    sent++;
    tokens += h.loser_tokens;
    if (h.outcome === 'won') {
      won++;
      saved += h.saved_ms ?? 0;
    }
  }
  return { sent, won, win_rate: sent === 0 ? null : Math.round((won / sent) * 10_000) / 10_000, saved_ms: Math.round(saved), loser_tokens: tokens };
}

function groupKey(row: Row, by: GroupBy): string {
  switch (by) {
    case 'endpoint':
      return row.endpoint_id ?? '(none)';
    case 'model':
      return row.model ?? '(none)';
    case 'day':
      return new Date(row.ts).toISOString().slice(0, 10);
    case 'key':
      return row.client_key ?? '(no key)';
    default:
      return 'all';
  }
}

/** The rows a summary reads: a time range, through the `ts` index. */
export const SUMMARY_SQL = `SELECT ts, model, endpoint_id, attempt_count, status, end_reason, ttfb_ms, total_ms, input_tokens, output_tokens,
       cache_creation_tokens, cache_read_tokens, cost_usd, health_check, error, ${ADDED_COLUMNS}
FROM requests WHERE ts >= ? ORDER BY ts`;

const KEYED = `client_key IS NOT NULL AND health_check = 0 AND path = '/v1/messages' AND (error IS NULL OR error NOT LIKE 'key-%')`;

/** What client keys' admitted message requests used since a time, request by request: the rpm and tpm windows. */
export const KEY_USAGE_SQL = `SELECT client_key, ts, total_ms, input_tokens, cache_creation_tokens, output_tokens, cost_usd
FROM requests WHERE ts >= ? AND ${KEYED} ORDER BY ts`;

/**
 * The same, of one replica's own requests (the PostgreSQL log, which replicas share): what its own limiter counted.
 * A replica that starts reads its own minute, not the whole deployment's (tens of thousands of rows for a busy
 * team, for each replica that starts); while Redis is away its limits are its own anyway.
 */
export const KEY_USAGE_OWN_SQL = `SELECT client_key, ts, total_ms, input_tokens, cache_creation_tokens, output_tokens, cost_usd
FROM requests WHERE ts >= ? AND replica = ? AND ${KEYED} ORDER BY ts`;

/**
 * Older usage by key and UTC day, summed: all a budget needs. A month of a team's requests is then a few rows per
 * key, not every request (which, read by each replica from a shared PostgreSQL log, made starting slow and big).
 */
export const KEY_SPEND_SQL = `SELECT client_key, max(ts) AS ts, 0 AS total_ms, 0 AS input_tokens, 0 AS cache_creation_tokens, 0 AS output_tokens,
  sum(cost_usd) AS cost_usd
FROM requests WHERE ts >= ? AND ts < ? AND ${KEYED} GROUP BY client_key, ts / 86400000 ORDER BY ts`;

/** Rows older than this are summed by day (KEY_SPEND_SQL); newer ones are read one by one for the minute's windows. */
export const KEY_WINDOW_MS = 120_000;

export interface KeyUsageRow {
  key: string;
  startedAt: number;
  endedAt: number;
  tokens: number;
  usd: number;
}

export interface KeyUsageSqlRow {
  client_key: string; ts: number; total_ms: number; input_tokens: number; cache_creation_tokens: number; output_tokens: number; cost_usd: number;
}

export function keyUsageRows(db: Database.Database, sinceMs: number, nowMs = Date.now()): KeyUsageRow[] {
  // Read from the proxy's own (migrated) store: the column is there. Older days first: the windows take times in order.
  const recent = Math.max(sinceMs, nowMs - KEY_WINDOW_MS);
  const days = db.prepare(KEY_SPEND_SQL).all(sinceMs, recent) as KeyUsageSqlRow[];
  return keyUsageOf([...days, ...(db.prepare(KEY_USAGE_SQL).all(recent) as KeyUsageSqlRow[])]);
}

export function keyUsageOf(rows: readonly KeyUsageSqlRow[]): KeyUsageRow[] {
  return rows.map((r) => ({
    key: r.client_key,
    startedAt: r.ts,
    endedAt: r.ts + r.total_ms,
    tokens: r.input_tokens + r.cache_creation_tokens + r.output_tokens,
    usd: r.cost_usd,
  }));
}

export function summarize(db: Database.Database, sinceMs: number, by: GroupBy): StatsSummary {
  return summaryOf(db.prepare(forSchema(db, SUMMARY_SQL)).all(sinceMs) as SummaryRow[], sinceMs, by);
}

export type SummaryRow = Row;

/** The summary of SUMMARY_SQL's rows (whichever database they came from). */
export function summaryOf(rows: readonly Row[], sinceMs: number, by: GroupBy): StatsSummary {
  const client = rows.filter((r) => r.health_check === 0);
  const health = rows.filter((r) => r.health_check === 1);
  const groups = new Map<string, Row[]>();
  for (const r of client) {
    const k = groupKey(r, by);
    let list = groups.get(k);
    if (!list) groups.set(k, (list = []));
    list.push(r);
  }
  return {
    since: new Date(sinceMs).toISOString(),
    by,
    total: summarizeRows('total', client),
    groups: by === 'none' ? [] : [...groups.entries()].map(([k, list]) => summarizeRows(k, list)).sort((a, b) => b.requests - a.requests),
    health_checks: {
      requests: health.length,
      tokens: health.reduce((n, r) => n + r.input_tokens + r.output_tokens + r.cache_creation_tokens + r.cache_read_tokens, 0),
      cost_usd: Math.round(health.reduce((n, r) => n + r.cost_usd, 0) * 1e6) / 1e6,
    },
  };
}

export type { LogEntry };

export interface LogFilter {
  afterId?: number;
  /** Only rows older than this id (the next page back). */
  beforeId?: number;
  /** The one request with this id (`x-qcc-request-id`). */
  requestId?: string;
  limit?: number;
  failedOnly?: boolean;
  endpoint?: string;
  model?: string;
  status?: number;
  /** Health checks are the proxy's own traffic: left out unless asked for (`include`), or shown alone (`only`). */
  healthChecks?: 'exclude' | 'include' | 'only';
  /** Only this caller's requests (a client key's name, or `access_keys[N]`). */
  key?: string;
}

export interface LogRow extends Row {
  id: number;
  request_id: string;
  method: string;
  path: string;
  stream: number;
  attempts: string;
  error: string | null;
}

type Attempt = LogEntry['attempts'][number];

/** A row's attempt chain, from either form the `attempts` column takes (see StoredRequest in store.ts). */
export function attemptChain(row: Pick<StoredRequest, 'attempts' | 'endpoint_id' | 'status'>): Attempt[] {
  const stored = JSON.parse(row.attempts) as Attempt[] | number;
  if (typeof stored !== 'number') return stored;
  return [{ endpoint: row.endpoint_id ?? '', status: row.status, ms: stored, error: null }];
}

/** A failed attempt's message read for a person: `connect ECONNREFUSED …` is a refused connection. */
function withReason(a: Attempt): Attempt {
  if (a.status !== null || a.message === undefined) return a;
  const reason = errnoInWords(a.message);
  return reason === undefined ? a : { ...a, reason };
}

function hedgeEntry(h: StoredHedge): NonNullable<LogEntry['hedge']> {
  return { outcome: h.outcome, saved_ms: h.saved_ms === undefined ? null : Math.round(h.saved_ms), loser_tokens: h.loser_tokens };
}

/** The query behind `recentRequests`: newest ids first, filtered as they are read. */
export function recentRequestsSql(f: LogFilter): string {
  const where: string[] = ['id > @afterId'];
  if (f.beforeId !== undefined) where.push('id < @beforeId');
  if (f.requestId !== undefined) where.push('request_id = @requestId');
  if (f.failedOnly) where.push("(status < 200 OR status >= 300 OR (end_reason IS NOT NULL AND end_reason <> 'complete'))");
  if (f.endpoint) where.push('endpoint_id = @endpoint');
  if (f.model) where.push('model = @model');
  if (f.status !== undefined) where.push('status = @status');
  if (f.key !== undefined) where.push(KEY_FILTER);
  if ((f.healthChecks ?? 'exclude') !== 'include') where.push(f.healthChecks === 'only' ? 'health_check = 1' : 'health_check = 0');
  return `SELECT *, ${ADDED_COLUMNS} FROM requests WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`;
}

/** The named parameters of recentRequestsSql. */
export function recentRequestsParams(f: LogFilter): Record<string, string | number | null> {
  return {
    afterId: f.afterId ?? 0,
    beforeId: f.beforeId ?? null,
    requestId: f.requestId ?? null,
    limit: f.limit ?? 20,
    endpoint: f.endpoint ?? null,
    model: f.model ?? null,
    status: f.status ?? null,
    clientKey: f.key ?? null,
  };
}

/** The most recent `limit` rows matching the filter, oldest first. */
export function recentRequests(db: Database.Database, f: LogFilter = {}): LogEntry[] {
  return logEntriesOf(db.prepare(forSchema(db, recentRequestsSql(f))).all(recentRequestsParams(f)) as LogRow[]);
}

/** Rows of recentRequestsSql (newest first) as log entries, oldest first. */
export function logEntriesOf(newestFirst: readonly (LogRow & { replica?: string | null })[]): LogEntry[] {
  return [...newestFirst].reverse().map((r) => ({
    id: r.id,
    time: new Date(r.ts).toISOString(),
    request_id: r.request_id,
    method: r.method,
    path: r.path,
    model: r.model,
    stream: r.stream === 1,
    endpoint: r.endpoint_id,
    status: r.status,
    // A health check's own verdict counts too: a 200 whose answer failed the check is not a success.
    ok: succeeded(r) && !(r.health_check === 1 && r.error !== null),
    ttfb_ms: r.ttfb_ms === null ? null : Math.round(r.ttfb_ms * 10) / 10,
    total_ms: Math.round(r.total_ms * 10) / 10,
    tokens: { input: r.input_tokens, output: r.output_tokens, cache_creation: r.cache_creation_tokens, cache_read: r.cache_read_tokens },
    // Nano-dollars: a sum of per-token prices is a binary fraction (0.00018899999999999999), not what to print.
    cost_usd: Math.round(r.cost_usd * 1e9) / 1e9,
    health_check: r.health_check === 1,
    key: r.client_key,
    error: r.error,
    end: r.end_reason,
    first_content_ms: r.ttfc_ms === null ? null : Math.round(r.ttfc_ms * 10) / 10,
    hedge: r.hedge === null ? null : hedgeEntry(parseHedge(r.hedge)),
    attempts: attemptChain(r).map(withReason),
    ...(r.replica !== undefined && { replica: r.replica }),
  }));
}
