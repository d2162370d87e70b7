import type { KeyLimiter } from '../keys/limiter.js';
import type { Logger } from '../log.js';
import type { StatsStoreStatus } from '../shared/api-types.js';
import { maskUrl } from '../shared/url-mask.js';
import { sqliteReader, type LogReader } from './log-reader.js';
import { PostgresLog } from './postgres-log.js';
import { keyUsageRows } from './query.js';
import type { RowSink } from './recorder.js';
import { StatsStore } from './store.js';

/** How far back client keys' windows are rebuilt at start: the longest budget window, a month. */
const KEY_USAGE_MS = 32 * 86_400_000;

/**
 * The request log a proxy writes and reads: its SQLite file, or PostgreSQL shared by replicas (`stats.backend`,
 * QCC_DATABASE_URL). Either way the recorder writes rows to `sink` off the request path, and the admin API reads
 * through `reader`.
 */
export class RequestLog {
  readonly sink: RowSink;
  readonly reader: LogReader;

  private constructor(
    private readonly sqlite: StatsStore | undefined,
    private readonly postgres: PostgresLog | undefined,
    private readonly postgresUrl: string | undefined,
  ) {
    this.sink = (postgres ?? sqlite)!;
    this.reader = postgres ?? sqliteReader(sqlite!.db);
  }

  static open(where: { file?: string | undefined; postgres?: { url: string; schema: string } | undefined; replicaId: string }, logger: Logger): RequestLog | undefined {
    if (where.postgres) return new RequestLog(undefined, new PostgresLog({ ...where.postgres, replicaId: where.replicaId }, logger), where.postgres.url);
    return where.file === undefined ? undefined : new RequestLog(new StatsStore(where.file), undefined, undefined);
  }

  /** PostgreSQL: migrate within `waitMs`, or false (rows are buffered until it answers). SQLite is always there. */
  async connect(waitMs: number): Promise<boolean> {
    return this.postgres ? this.postgres.connect(waitMs) : true;
  }

  /** A restart resets no budget and empties no minute: client keys' windows are rebuilt from the log. */
  restoreKeys(limiter: KeyLimiter, now: number, logger: Logger): void | Promise<void> {
    const warn = (e: unknown) => logger.warn({ err: e }, "could not rebuild client keys' usage from the request log");
    if (this.postgres) return this.postgres.keyUsage(now - KEY_USAGE_MS).then((rows) => limiter.restore(rows), warn);
    try {
      limiter.restore(keyUsageRows(this.sqlite!.db, now - KEY_USAGE_MS));
    } catch (e: unknown) {
      warn(e);
    }
  }

  describe(recorder: { buffered: number; dropped: number; failing: { error: string } | undefined } | undefined): StatsStoreStatus {
    const counts = { buffered: recorder?.buffered ?? 0, dropped: (recorder?.dropped ?? 0) + (this.postgres?.refusedRows ?? 0) };
    if (!this.postgres) return { backend: 'sqlite', state: recorder?.failing ? 'degraded' : 'ok', error: recorder?.failing?.error ?? null, ...counts };
    const problem = recorder?.failing?.error ?? this.postgres.problem;
    return { backend: 'postgres', url: maskUrl(this.postgresUrl!), state: problem === undefined && this.postgres.up ? 'ok' : 'degraded', error: problem ?? null, ...counts };
  }

  async close(): Promise<void> {
    this.sqlite?.close();
    await this.postgres?.close();
  }
}

