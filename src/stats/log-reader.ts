import type Database from 'better-sqlite3';
import type { LogEntry } from '../shared/api-types.js';
import { keyUsageRows, recentRequests, summarize, type GroupBy, type KeyUsageRow, type LogFilter, type StatsSummary } from './query.js';
import { timeseries, type Range } from './timeseries.js';
import type { Bucket } from '../shared/api-types.js';

/**
 * Reading the request log, whichever database holds it: this machine's SQLite file, or the PostgreSQL database
 * replicas share (then `qcc stats`, `qcc logs` and the dashboard on any replica see every replica's traffic). The
 * queries and what is made of their rows are the same for both (stats/query.ts, stats/timeseries.ts).
 */
export interface LogReader {
  summary(sinceMs: number, by: GroupBy): Promise<StatsSummary>;
  recent(filter: LogFilter): Promise<LogEntry[]>;
  timeseries(range: Range, now: number): Promise<{ range: Range; bucket_ms: number; buckets: Bucket[] }>;
  /** Client keys' usage since a time: the last two minutes request by request, older days summed (budgets). */
  keyUsage(sinceMs: number, nowMs?: number): Promise<KeyUsageRow[]>;
  /** The newest row's id (0 when empty): where `qcc logs -f` starts following. */
  maxId(): Promise<number>;
}

export function sqliteReader(db: Database.Database): LogReader {
  return {
    summary: async (sinceMs, by) => summarize(db, sinceMs, by),
    recent: async (filter) => recentRequests(db, filter),
    timeseries: async (range, now) => timeseries(db, range, now),
    keyUsage: async (sinceMs, nowMs) => keyUsageRows(db, sinceMs, nowMs),
    maxId: async () => (db.prepare('SELECT max(id) AS id FROM requests').get() as { id: number | null }).id ?? 0,
  };
}
