import { spawn } from 'node:child_process';

/**
 * V8 flags the proxy process runs with, wherever qcc starts it: the background daemon, the service unit,
 * `npm start`, and `qcc proxy start --foreground` (which starts itself again with them when they are missing:
 * they size the heap, so they must be given before the process starts and cannot be set from inside it).
 *
 * `--initial-old-space-size=64`: with Node 20's defaults, a proxy carrying large request bodies (Claude Code
 * sends 50–300 KB a turn) falls, after its first full collection, into a regime where V8 sets the old
 * generation's limit close to its live size (~13 MB here) while the young generation has grown to 32 MB, and
 * then marks and compacts the whole heap every few dozen requests, for good: 7–14 full collections per 400
 * requests of 256 KB, where the same process had none before. A floor of 64 MB under that limit keeps it out of
 * that regime (`bench/NOTES.md`: the captured 76 KB Claude Code request 550–575 → 300 µs of CPU, 256 KB bodies
 * 775 → 275–300; small requests and streams unchanged). It costs no memory up front: it is a limit, and the
 * heap only fills towards it with garbage between collections.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64'];

/** Whether this process was started with the proxy's flags. */
export function hasProxyNodeFlags(execArgv: readonly string[] = process.execArgv): boolean {
  return PROXY_NODE_FLAGS.every((flag) => execArgv.includes(flag));
}

/** Set in the proxy process that `relaunchWithProxyFlags` starts, which then follows its launcher's life. */
const RELAUNCHED_ENV = 'QCC_RELAUNCHED';

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Run this same command again in a child process with the proxy's flags, and live as its shadow: signals are
 * passed on, and this process exits as the child does (same code, or same signal). If this process is killed
 * outright, the child notices its IPC channel close and shuts down as on SIGTERM (see `followLauncher`).
 */
export function relaunchWithProxyFlags(): Promise<never> {
  const child = spawn(process.execPath, [...PROXY_NODE_FLAGS, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED_ENV]: '1' },
  });
  const forward = (signal: NodeJS.Signals) => () => {
    // A terminal's Ctrl-C reaches the child directly too; a second SIGINT is harmless (stopping is idempotent).
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const handlers = FORWARDED_SIGNALS.map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const [s, handler] of handlers) process.off(s, handler);
      if (signal !== null) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}

/**
 * In a relaunched proxy: stop when the launcher is gone (its IPC channel closes when it dies, however it dies),
 * so a killed launcher never leaves an orphaned proxy holding the port. `stop` is the SIGTERM path.
 */
export function followLauncher(stop: () => void): void {
  if (process.env[RELAUNCHED_ENV] !== '1' || !process.channel) return;
  delete process.env[RELAUNCHED_ENV]; // not inherited by anything this process starts
  if (!process.connected) return stop(); // the launcher died while the proxy was starting
  process.once('disconnect', stop);
  // The channel must not keep the process alive by itself.
  process.channel.unref();
}
