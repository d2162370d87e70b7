import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real outbound proxies for tests, from Debian's packages: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5).
 * Each runs in a mount namespace of its own whose /etc/hosts also maps PROXY_ONLY_HOST to 127.0.0.1, so that
 * name resolves at the proxy and nowhere else: an endpoint reached by that name was reached through the proxy.
 */

export const PROXY_ONLY_HOST = 'sim.qcc-test.invalid';

export interface OutboundProxy {
  url: string;
  port: number;
  /** What the proxy logged so far. */
  log(): string;
  /** Tunnels it opened (CONNECT requests, or SOCKS connections), read from its log. */
  tunnels(): number;
  close(): Promise<void>;
}

/** A port nothing listens on (a proxy that is down, an endpoint that refuses). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`proxy exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`proxy did not listen on ${port}: ${output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Run `argv` in a private mount namespace whose /etc/hosts knows PROXY_ONLY_HOST. */
function spawnWithHosts(dir: string, argv: string[]): ChildProcess {
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `${readFileSync('/etc/hosts', 'utf8')}\n127.0.0.1 ${PROXY_ONLY_HOST}\n`);
  const script = `mount --bind '${hosts}' /etc/hosts && exec "$@"`;
  return spawn('unshare', ['-m', 'sh', '-c', script, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function run(kind: string, argv: (port: number, dir: string) => string[], logFile?: (dir: string) => string): Promise<OutboundProxy & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), `qcc-${kind}-`));
  const port = await freePort();
  const child = spawnWithHosts(dir, argv(port, dir));
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const log = () => (logFile ? safeRead(logFile(dir)) : '') + output;
  await waitForPort(port, child, log);
  return {
    dir,
    port,
    url: `http://127.0.0.1:${port}`,
    log,
    tunnels: () => 0,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** tinyproxy, CONNECT to any port allowed, optionally with Basic credentials. */
export async function startTinyproxy(opts: { user?: string; password?: string } = {}): Promise<OutboundProxy> {
  const p = await run(
    'tinyproxy',
    (port, dir) => {
      const conf = join(dir, 'tinyproxy.conf');
      const lines = [
        'Listen 127.0.0.1',
        `Port ${port}`,
        'Timeout 60',
        'MaxClients 100',
        'Allow 127.0.0.1',
        'LogLevel Connect',
        `LogFile "${join(dir, 'tinyproxy.log')}"`,
        ...(opts.user !== undefined ? [`BasicAuth ${opts.user} ${opts.password ?? ''}`] : []),
      ];
      writeFileSync(conf, `${lines.join('\n')}\n`);
      return ['tinyproxy', '-d', '-c', conf];
    },
    (dir) => join(dir, 'tinyproxy.log'),
  );
  const auth = opts.user !== undefined ? `${opts.user}:${opts.password ?? ''}@` : '';
  return { ...p, url: `http://${auth}127.0.0.1:${p.port}`, tunnels: () => (p.log().match(/Request \(file descriptor \d+\): CONNECT /g) ?? []).length };
}

/** microsocks, optionally with a user name and password (`-u`/`-P`). */
export async function startMicrosocks(opts: { user?: string; password?: string } = {}, scheme: 'socks5' | 'socks5h' = 'socks5h'): Promise<OutboundProxy> {
  const p = await run('microsocks', (port) => [
    'microsocks',
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    ...(opts.user !== undefined ? ['-u', opts.user, '-P', opts.password ?? ''] : []),
  ]);
  const auth = opts.user !== undefined ? `${opts.user}:${opts.password ?? ''}@` : '';
  return { ...p, url: `${scheme}://${auth}127.0.0.1:${p.port}`, tunnels: () => (p.log().match(/connected to /g) ?? []).length };
}
