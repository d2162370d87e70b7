import type Database from 'better-sqlite3';
import { attemptChain, failoversOf, hedgeSummary, percentile, succeeded } from './query.js';
import { forSchema, ADDED_COLUMNS } from './store.js';
import type { Bucket } from '../shared/api-types.js';

/** Buckets of the request log for the dashboard's charts: last hour, day or week. */

export const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 } as const;
export type Range = keyof typeof RANGES;

export type { Bucket };

interface Row {
  ts: number;
  status: number;
  end_reason: string | null;
  attempt_count: number;
  total_ms: number;
  ttfb_ms: number | null;
  attempts: string;
  endpoint_id: string | null;
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  cost_usd: number;
  ttfc_ms: number | null;
  hedge: string | null;
}

const BUCKETS = 60;

/** The dashboard's charts read a time range of client requests, through the `ts` index. */
export const TIMESERIES_SQL = `SELECT ts, status, end_reason, attempt_count, total_ms, ttfb_ms, attempts, endpoint_id, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd,
  ${ADDED_COLUMNS}
FROM requests WHERE ts >= ? AND health_check = 0 ORDER BY ts`;

export function timeseries(db: Database.Database, range: Range, now = Date.now()): { range: Range; bucket_ms: number; buckets: Bucket[] } {
  return timeseriesOf(db.prepare(forSchema(db, TIMESERIES_SQL)).all(now - RANGES[range]) as Row[], range, now);
}

export type TimeseriesRow = Row;

/** The charts' buckets from TIMESERIES_SQL's rows (whichever database they came from). */
export function timeseriesOf(rows: readonly Row[], range: Range, now: number): { range: Range; bucket_ms: number; buckets: Bucket[] } {
  const span = RANGES[range];
  const size = span / BUCKETS;
  const start = now - span;
  const groups: Row[][] = Array.from({ length: BUCKETS }, () => []);
  for (const r of rows) groups[Math.min(BUCKETS - 1, Math.floor((r.ts - start) / size))]!.push(r);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  const buckets = groups.map((g, i) => {
    const ok = g.filter(succeeded);
    const sorted = (xs: number[]) => xs.sort((a, b) => a - b);
    const latency = sorted(ok.map((r) => r.total_ms));
    const ttfb = sorted(ok.filter((r) => r.ttfb_ms !== null).map((r) => r.ttfb_ms!));
    const firstContent = sorted(ok.filter((r) => r.ttfc_ms !== null).map((r) => r.ttfc_ms!));
    const hedges = hedgeSummary(g);
    const overhead = sorted(
      ok.map((r) => r.total_ms - attemptChain(r).reduce((n, a) => n + a.ms, 0)).map((v) => Math.max(0, v)),
    );
    return {
      t: Math.round(start + i * size),
      requests: g.length,
      rps: Math.round((g.length / (size / 1000)) * 1000) / 1000,
      success_rate: g.length ? Math.round((ok.length / g.length) * 1000) / 1000 : null,
      failovers: g.reduce((n, r) => n + failoversOf(r), 0),
      p50_ms: round(percentile(latency, 50)),
      p95_ms: round(percentile(latency, 95)),
      ttfb_p50_ms: round(percentile(ttfb, 50)),
      ttfb_p95_ms: round(percentile(ttfb, 95)),
      first_content_p50_ms: round(percentile(firstContent, 50)),
      first_content_p95_ms: round(percentile(firstContent, 95)),
      hedges: hedges.sent,
      hedges_won: hedges.won,
      hedge_saved_ms: hedges.saved_ms,
      hedge_loser_tokens: hedges.loser_tokens,
      tokens: g.reduce((n, r) => n + r.input_tokens + r.output_tokens + r.cache_creation_tokens + r.cache_read_tokens, 0),
      cost_usd: Math.round(g.reduce((n, r) => n + r.cost_usd, 0) * 1e6) / 1e6,
      overhead_p50_ms: round(percentile(overhead, 50)),
    };
  });
  return { range, bucket_ms: size, buckets };
}
