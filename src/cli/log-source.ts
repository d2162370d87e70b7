import { existsSync } from 'node:fs';
import type { QccPaths } from '../config/paths.js';
import { loadConfig } from '../config/load.js';
import { defaultConfig } from '../config/schema.js';
import { storeSettings } from '../cluster/settings.js';
import { silentLogger } from '../log.js';
import { sqliteReader, type LogReader } from '../stats/log-reader.js';
import { PostgresLog } from '../stats/postgres-log.js';
import { StatsStore } from '../stats/store.js';
import { maskUrl } from '../shared/url-mask.js';
import { CliError } from './output.js';

/** The request log the CLI reads: PostgreSQL when the config or QCC_DATABASE_URL says so (every replica's rows), else the SQLite file. */
export interface OpenLog {
  reader: LogReader;
  /** Where, for messages. */
  where: string;
  close(): Promise<void>;
}

export async function openLog(paths: QccPaths): Promise<OpenLog | undefined> {
  let config = defaultConfig();
  if (existsSync(paths.config)) {
    try {
      config = loadConfig(paths.config).config;
    } catch {
      // A broken config is reported by the commands that change it; the log is still readable from its defaults.
    }
  }
  const { postgres, replicaId } = storeSettings(config);
  if (postgres) {
    const log = new PostgresLog({ ...postgres, replicaId }, silentLogger());
    if (!(await log.connect(5_000))) {
      await log.close();
      throw new CliError(`the request log in PostgreSQL (${maskUrl(postgres.url)}) is not reachable: ${log.problem ?? 'no answer within 5 s'}`);
    }
    return { reader: log, where: `PostgreSQL ${maskUrl(postgres.url)} (schema ${postgres.schema})`, close: () => log.close() };
  }
  if (!existsSync(paths.db)) return undefined;
  // Read-only: works beside a running proxy (WAL), and never creates or migrates anything.
  const store = new StatsStore(paths.db, { readonly: true });
  return { reader: sqliteReader(store.db), where: paths.db, close: async () => store.close() };
}
