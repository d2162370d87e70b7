import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';
import { createApp } from '../app.js';
import { storeSettings, StoreSettingsError } from '../cluster/settings.js';

/** How long a starting replica waits for its shared stores before it serves alone. */
const STORE_CONNECT_WAIT_MS = 3_000;
import { ConfigError, loadConfig } from '../config/load.js';
import { endpointSchema, type Config } from '../config/schema.js';
import type { QccPaths } from '../config/paths.js';
import { isLoopbackHost } from '../proxy/access.js';
import { createLogger, type Logger } from '../log.js';
import { startSimulator, type Simulator } from '../sim/simulator.js';
import { describeError } from '../errors.js';
import { ensureAdminToken } from './admin-token.js';
import { RotatingLogFile } from './log-file.js';
import { CliError } from './output.js';
import { followLauncher } from './node-flags.js';
import { inspectRecord, removeRecord, writeRecord } from './runtime-record.js';
import { VERSION } from './version.js';

export interface RunOptions {
  host?: string | undefined;
  port?: number | undefined;
  demo?: boolean | undefined;
  logLevel?: string | undefined;
  /** Set by `proxy start` for the detached child: stdout is the log file then. */
  background?: boolean | undefined;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function parseLevel(level: string | undefined): (typeof LEVELS)[number] {
  if (level === undefined) return 'info';
  const found = LEVELS.find((l) => l === level);
  if (!found) throw new CliError(`--log-level must be one of ${LEVELS.join(', ')}, not "${level}"`);
  return found;
}

/** Two simulated endpoints, so a newcomer without any key sees qcc (and Claude Code through it) work at once. */
async function startDemoEndpoints(config: Config): Promise<{ config: Config; sims: Simulator[] }> {
  const sims = await Promise.all([startSimulator({ name: 'demo-a' }), startSimulator({ name: 'demo-b' })]);
  const endpoints = sims.map((s) => endpointSchema.parse({ id: s.name, base_url: s.url, simulated: true }));
  return { config: { ...config, endpoints }, sims };
}

function checkBindSafety(host: string, config: Config): void {
  if (!isLoopbackHost(host) && config.proxy.access_keys.length === 0 && config.client_keys.length === 0) {
    throw new CliError(
      `refusing to listen on ${host} without an access key: anyone who can reach that address could spend your endpoints' keys.\n` +
        'Create a key for each person (qcc key add NAME), or add one to "proxy.access_keys", or listen on 127.0.0.1.',
    );
  }
}

/** Watch the config file and apply valid changes live; an invalid edit is logged and the running config stays. */
function watchConfig(file: string, logger: Logger, apply: (c: Config) => void, rejected: (problem: string) => void): FSWatcher | undefined {
  let timer: NodeJS.Timeout | undefined;
  const reload = () => {
    try {
      const { config, exists } = loadConfig(file);
      if (!exists) return;
      apply(config);
      logger.info({ file }, 'config reloaded');
    } catch (e: unknown) {
      logger.error({ file, reason: describeError(e) }, 'config change rejected; the running config stays in force');
      // The JSON paths and their problems, without the file name status prints beside them.
      rejected(e instanceof ConfigError && e.problems.length > 0 ? e.problems.join('; ') : describeError(e));
    }
  };
  try {
    // Watch the directory: editors and our own atomic writes replace the file, which a file watch would lose.
    return watch(dirname(file), (_event, name) => {
      if (name !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(reload, 100);
    });
  } catch {
    return undefined;
  }
}

export async function runProxyForeground(paths: QccPaths, opts: RunOptions): Promise<void> {
  const existing = inspectRecord(paths.runtime);
  if (existing.kind === 'running' && existing.record.pid !== process.pid) {
    throw new CliError(`qcc proxy is already running (pid ${existing.record.pid}) at ${existing.record.url}; stop it with \`qcc proxy stop\``);
  }
  const loaded = loadConfig(paths.config);
  let config = loaded.config;
  // In the background the proxy writes its own log file, rotated by size (log-file.ts); in the foreground, the terminal.
  const logFile = opts.background ? new RotatingLogFile(paths.log) : undefined;
  const logger = createLogger(parseLevel(opts.logLevel), logFile ? { destination: logFile } : { pretty: true });
  if (logFile) {
    // A crash's trace would go to the descriptor the parent opened, which rotation may have renamed: log it here.
    process.on('uncaughtException', (err) => {
      logger.fatal({ err }, 'the proxy crashed');
      logFile.flushSync();
      process.exit(1);
    });
  }
  for (const change of loaded.migrated) logger.info({ file: paths.config }, change);
  let sims: Simulator[] = [];
  // With no endpoint the proxy still starts, so the dashboard can add the first one; until then /v1/* says how.
  const noEndpoints = config.endpoints.length === 0 && !opts.demo;
  if (config.endpoints.length === 0 && opts.demo) {
    ({ config, sims } = await startDemoEndpoints(config));
  } else if (opts.demo && config.endpoints.length > 0) {
    logger.info('endpoints are configured, so --demo uses them instead of simulated ones');
  }
  const host = opts.host ?? config.proxy.host;
  const port = opts.port ?? config.proxy.port;
  checkBindSafety(host, config);

  let stores;
  try {
    stores = storeSettings(config);
  } catch (e: unknown) {
    if (e instanceof StoreSettingsError) throw new CliError(e.message);
    throw e;
  }
  const adminToken = ensureAdminToken(paths.adminToken);
  // In demo mode too the dashboard's changes are saved (the simulated endpoints never are), and the first real
  // endpoint, added there or in the file, replaces the simulated ones.
  const app = createApp(config, {
    logger,
    adminToken,
    statePath: paths.state,
    version: VERSION,
    statsFile: paths.db,
    configPath: paths.config,
    keyPepperFile: paths.keyPepper,
    stores,
    ...(sims.length > 0 && { demoEndpoints: config.endpoints }),
  });
  if (!(await app.connectStores(STORE_CONNECT_WAIT_MS))) {
    // Not fatal: a replica that cannot reach Redis serves alone (its limits per replica), one that cannot reach
    // PostgreSQL buffers its rows; both keep trying. Said loudly, since a wrong URL looks just like an outage.
    const { state, stats } = app.status().stores;
    const lines: string[] = [];
    if (state.state === 'degraded') lines.push(`shared state: Redis at ${state.url} is not reachable (${state.error ?? 'no answer'}); serving on this replica's own state and retrying — check the URL and that Redis runs`);
    if (stats.state === 'degraded') lines.push(`request log: PostgreSQL at ${stats.url} is not reachable (${stats.error ?? 'no answer'}); buffering rows and retrying — check the URL and that PostgreSQL runs`);
    for (const line of lines) {
      logger.error(line);
      if (!opts.background) process.stderr.write(`${line}\n`);
    }
  }
  let address;
  try {
    address = await app.listen(port, host);
  } catch (e: unknown) {
    await app.close(0);
    await Promise.all(sims.map((s) => s.close()));
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliError(`port ${port} on ${host} is already in use; choose another with --port (0 picks a free one)`);
    if (code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on ${host}: no such address on this machine`);
    throw e;
  }
  writeRecord(paths.runtime, {
    pid: process.pid,
    url: address.url,
    host: address.host,
    port: address.port,
    started_at: new Date().toISOString(),
    config: paths.config,
    log: opts.background ? paths.log : null,
    demo: sims.length > 0,
  });
  logger.info({ url: address.url, endpoints: config.endpoints.map((e) => e.id), demo: sims.length > 0 }, 'qcc proxy listening');
  if (!opts.background) {
    process.stderr.write(
      `listening on ${address.url}\n` +
        (sims.length > 0 ? 'serving through two simulated endpoints (demo mode)\n' : '') +
        (noEndpoints
          ? `no endpoints configured yet (${paths.config}): requests get a 503 until you add one, which applies at once:\n` +
            '  qcc endpoint add main --base-url https://api.anthropic.com --api-key-env ANTHROPIC_API_KEY\n' +
            '  or in the dashboard (qcc dashboard); or try simulated endpoints: qcc proxy start --demo\n'
          : '') +
        `point Claude Code at it:\n  export ANTHROPIC_BASE_URL=${address.url}\n  export ANTHROPIC_AUTH_TOKEN=${config.proxy.access_keys.length > 0 ? '<one of proxy.access_keys>' : 'any-value-qcc-uses-its-own-keys'}\n`,
    );
  }

  const watcher = watchConfig(paths.config, logger, (c) => app.reloadFromFile(c), (problem) => app.configRejected({ file: paths.config, problem }));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping: draining in-flight requests');
    watcher?.close();
    await app.close();
    await Promise.all(sims.map((s) => s.close()));
    removeRecord(paths.runtime, process.pid);
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  followLauncher(() => void stop('launcher exited'));
}
