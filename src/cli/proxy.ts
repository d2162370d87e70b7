import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import type { AppStatus } from '../app.js';
import type { QccPaths } from '../config/paths.js';
import { readAdminToken } from './admin-token.js';
import { hasProxyNodeFlags, PROXY_NODE_FLAGS, relaunchWithProxyFlags } from './node-flags.js';
import { CliError, info, printJson, table } from './output.js';
import { inspectRecord, isAlive, removeRecord, type RuntimeRecord } from './runtime-record.js';
import { runProxyForeground, type RunOptions } from './run-proxy.js';
import { showLogs, startFailure } from './logs-file.js';
import { rotateIfFull } from './log-file.js';

const START_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function portAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

function envLines(url: string): string {
  return `point Claude Code at it:\n  export ANTHROPIC_BASE_URL=${url}\n  export ANTHROPIC_AUTH_TOKEN=<anything; or one of proxy.access_keys if you set them>\n`;
}

/** Start the proxy detached, and return only once it accepts connections (or explain why it did not). */
export async function startBackground(paths: QccPaths, opts: RunOptions, globalArgs: string[]): Promise<RuntimeRecord> {
  const state = inspectRecord(paths.runtime);
  if (state.kind === 'running') {
    throw new CliError(`qcc proxy is already running (pid ${state.record.pid}) at ${state.record.url}; stop it with \`qcc proxy stop\``);
  }
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  rotateIfFull(paths.log);
  // Where this start's lines begin: a failure shows those, not the earlier runs'.
  const logOffset = existsSync(paths.log) ? statSync(paths.log).size : 0;
  const logFd = openSync(paths.log, 'a', 0o600);
  const args = [fileURLToPath(new URL('./main.js', import.meta.url)), ...globalArgs, 'proxy', 'start', '--foreground', '--background-child'];
  if (opts.host !== undefined) args.push('--host', opts.host);
  if (opts.port !== undefined) args.push('--port', String(opts.port));
  if (opts.demo) args.push('--demo');
  if (opts.logLevel) args.push('--log-level', opts.logLevel);
  const child = spawn(process.execPath, [...PROXY_NODE_FLAGS, ...args], { detached: true, stdio: ['ignore', logFd, logFd], env: process.env });
  closeSync(logFd);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  child.unref();

  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      throw new CliError(startFailure(paths.log, logOffset, exited));
    }
    const s = inspectRecord(paths.runtime);
    if (s.kind === 'running' && s.record.pid === child.pid && (await portAccepts(s.record.host, s.record.port))) return s.record;
    await sleep(50);
  }
  throw new CliError(`the proxy did not start within ${START_TIMEOUT_MS / 1000}s; see ${paths.log}`);
}

async function fetchStatus(record: RuntimeRecord, paths: QccPaths): Promise<AppStatus | undefined> {
  const token = readAdminToken(paths.adminToken);
  if (!token) return undefined;
  try {
    // Loaded here, not at the top: the proxy process imports this module too, and undici is ~5 MB of heap it never
    // uses (its own upstream client is src/upstream/); a smaller heap makes every full collection cheaper.
    const { request } = await import('undici');
    const res = await request(`${record.url}/_qcc/status`, { headers: { 'x-qcc-admin-token': token }, headersTimeout: 3000, bodyTimeout: 3000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      return undefined;
    }
    return (await res.body.json()) as AppStatus;
  } catch {
    return undefined;
  }
}

async function stopProxy(paths: QccPaths, quiet = false): Promise<boolean> {
  const state = inspectRecord(paths.runtime);
  if (state.kind === 'none') {
    if (!quiet) process.stdout.write('qcc proxy is not running\n');
    return false;
  }
  if (state.kind === 'stale') {
    removeRecord(paths.runtime, state.record.pid);
    if (!quiet) process.stdout.write(`qcc proxy is not running (removed a stale record of pid ${state.record.pid})\n`);
    return false;
  }
  const { pid } = state.record;
  process.kill(pid, 'SIGTERM');
  // The proxy drains in-flight streams (drain_timeout_ms, 10 s by default) before exiting.
  const deadline = Date.now() + 20_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(50);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    await sleep(100);
  }
  removeRecord(paths.runtime, pid);
  if (!quiet) info(`stopped qcc proxy (pid ${pid})`);
  return true;
}

/** Where this replica keeps shared state and its request log, and whether they answer. */
function storesLine(status: AppStatus): string {
  const { state, stats } = status.stores;
  const shared =
    state.backend === 'local'
      ? 'state: this process (one replica)'
      : state.state === 'connected'
        ? `state: Redis ${state.url}, connected; limits shared; health checks by ${state.health_checker === status.replica ? 'this replica' : (state.health_checker ?? '(electing)')}`
        : `state: Redis ${state.url} UNREACHABLE since ${state.since?.slice(11, 19) ?? '?'} (${state.error ?? 'no answer'}); limits per replica, health checks here${state.pending_merge ? `, ${state.pending_merge} admissions to merge` : ''}`;
  const log =
    stats.state === 'off'
      ? 'request log: off'
      : `request log: ${stats.backend === 'postgres' ? `PostgreSQL ${stats.url}` : 'SQLite'}${stats.state === 'degraded' ? ` FAILING (${stats.error ?? '?'}), ${stats.buffered ?? 0} rows buffered` : ''}${stats.dropped ? `, ${stats.dropped} rows dropped` : ''}`;
  return `replica ${status.replica} · ${shared} · ${log}`;
}

function printStatus(record: RuntimeRecord, status: AppStatus | undefined): void {
  process.stdout.write(`qcc proxy is running: pid ${record.pid}, ${record.url}, started ${record.started_at}\n`);
  if (!status) {
    process.stdout.write('(could not read live status from the proxy)\n');
    return;
  }
  process.stdout.write(`uptime ${status.uptime_s}s, strategy ${status.strategy}, in flight ${status.inflight}\n`);
  process.stdout.write(`${storesLine(status)}\n\n`);
  const problem = status.config_problem;
  if (problem) {
    process.stdout.write(`config on disk is invalid since ${problem.since.slice(11, 16)} UTC: ${problem.problem}; running with the last valid one (fix ${problem.file})\n\n`);
  }
  const rows = status.endpoints.map((e) => [
    e.id,
    e.enabled ? 'yes' : 'no',
    e.state,
    e.requests,
    e.errors,
    e.inflight,
    `${e.weight}/${e.effective_weight}`,
    e.ttfb_ewma_ms === null ? '-' : `${Math.round(e.ttfb_ewma_ms)}ms`,
    e.consecutive_failures,
    e.cooldown_left_ms > 0 ? `${Math.ceil(e.cooldown_left_ms / 1000)}s` : '-',
    e.keys_usable === null ? 'client' : `${e.keys_usable}/${e.keys_total}`,
    e.health_score ?? '-',
    e.last_check ? `${e.last_check.ok ? 'ok' : 'FAIL'} ${e.last_check.model} ${e.last_check.at.slice(11, 19)}` : '-',
    e.route.label,
  ]);
  process.stdout.write(
    `${table(['ENDPOINT', 'ENABLED', 'STATE', 'REQUESTS', 'ERRORS', 'INFLIGHT', 'WEIGHT/EFF', 'TTFB', 'FAILS', 'COOLDOWN', 'KEYS', 'SCORE', 'LAST CHECK', 'ROUTE'], rows)}\n`,
  );
  // The cause of each endpoint's last failure, in full (a proxy that refused its credentials, a refused connection).
  for (const e of status.endpoints) if (e.last_error && e.state !== 'healthy') process.stdout.write(`  ${e.id}: ${e.last_error}\n`);
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`--port must be a whole number from 0 to 65535, not "${value}"`);
  return n;
}

export function registerProxyCommands(program: Command, paths: () => QccPaths, globalArgs: () => string[]): void {
  const proxy = program
    .command('proxy')
    .description('run the local proxy Claude Code talks to')
    .addHelpText('after', '\nExamples:\n  qcc proxy start --demo        # simulated endpoints, to try it\n  qcc proxy start\n  qcc proxy status --json\n  qcc proxy logs -f');

  proxy
    .command('start')
    .description('start the proxy (in the background unless --foreground)')
    .option('--host <host>', 'address to listen on (default from config: 127.0.0.1)')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default from config: 7860)', parsePort)
    .option('--foreground', 'stay attached and log to the terminal')
    .option('--demo', 'with no endpoints configured, serve through two built-in simulated endpoints')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent', 'info')
    .addOption(new Option('--background-child', '(internal) started by `proxy start` in the background').hideHelp())
    .addHelpText('after', '\nExamples:\n  qcc proxy start\n  qcc proxy start --demo --port 0\n  qcc proxy start --foreground --host 0.0.0.0   (needs proxy.access_keys)')
    .action(async (opts: RunOptions & { foreground?: boolean; backgroundChild?: boolean }) => {
      if (opts.foreground) {
        // The heap flags can only be given at start: run again with them (the background child has them).
        if (!hasProxyNodeFlags()) return relaunchWithProxyFlags();
        return runProxyForeground(paths(), { ...opts, background: opts.backgroundChild });
      }
      const record = await startBackground(paths(), opts, globalArgs());
      process.stdout.write(`qcc proxy started (pid ${record.pid})\nlistening on ${record.url}\n${envLines(record.url)}`);
    });

  proxy
    .command('stop')
    .description('stop the running proxy, letting in-flight streams finish first')
    .action(async () => {
      await stopProxy(paths());
    });

  proxy
    .command('restart')
    .description('stop the running proxy (if any) and start it again in the background')
    .option('--demo', 'as for start')
    .action(async (opts: { demo?: boolean }) => {
      const state = inspectRecord(paths().runtime);
      const previous = state.kind === 'running' ? state.record : undefined;
      await stopProxy(paths(), true);
      // A demo stays a demo: --demo is kept (with endpoints configured by now, it serves those instead).
      const record = await startBackground(paths(), { host: previous?.host, port: previous?.port, demo: opts.demo ?? previous?.demo }, globalArgs());
      process.stdout.write(`qcc proxy restarted (pid ${record.pid})\nlistening on ${record.url}\n`);
    });

  proxy
    .command('logs')
    .description("the proxy's log (of a proxy started in the background)")
    .option('-n, --lines <n>', 'how many lines to show', '50')
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'raw JSON lines')
    .addHelpText('after', '\nExamples:\n  qcc proxy logs -n 100\n  qcc proxy logs -f')
    .action(async (opts: { lines: string; follow?: boolean; json?: boolean }) => {
      const lines = Number(opts.lines);
      if (!Number.isInteger(lines) || lines < 0) throw new CliError(`--lines must be a whole number, not "${opts.lines}"`);
      await showLogs(paths().log, { lines, follow: opts.follow === true, json: opts.json === true });
    });

  proxy
    .command('status')
    .description('is the proxy running, where, and how are its endpoints doing')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const state = inspectRecord(paths().runtime);
      if (state.kind !== 'running') {
        if (state.kind === 'stale') removeRecord(paths().runtime, state.record.pid);
        const note = state.kind === 'stale' ? ` (found a stale record of pid ${state.record.pid}, left by a crash; removed it)` : '';
        if (opts.json) printJson({ running: false, stale_pid: state.kind === 'stale' ? state.record.pid : null });
        else process.stdout.write(`qcc proxy is not running${note}\n`);
        process.exitCode = 3;
        return;
      }
      const status = await fetchStatus(state.record, paths());
      if (opts.json) {
        printJson({ running: true, pid: state.record.pid, url: state.record.url, started_at: state.record.started_at, ...status });
      } else {
        printStatus(state.record, status);
      }
    });
}
