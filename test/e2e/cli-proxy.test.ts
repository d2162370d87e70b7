import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { cliTestEnv, runCli, spawnCli, writeConfig } from '../helpers/cli.js';
import { rawRequest } from '../helpers/servers.js';

const { h, homes } = cliTestEnv();

const home = () => homes.make();

function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const MESSAGE = JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });

describe('qcc proxy start / status / stop', () => {
  it('starts in the background on a free port, refuses a second copy, and stops', async () => {
    const dir = home();
    const start = await runCli(dir, ['proxy', 'start', '--demo', '--port', '0']);
    expect(start.code).toBe(0);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(start.stdout)?.[1];
    expect(url).toBeDefined();
    expect(start.stdout).toContain(`export ANTHROPIC_BASE_URL=${url}`);

    const res = await request(`${url}/v1/messages`, { method: 'POST', body: MESSAGE, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-qcc-endpoint']).toMatch(/^demo-/);
    await res.body.dump();

    const second = await runCli(dir, ['proxy', 'start', '--demo', '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already running');

    const status = await runCli(dir, ['proxy', 'status', '--json']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { running: boolean; url: string; pid: number; endpoints: { id: string; requests: number }[] };
    expect(parsed.running).toBe(true);
    expect(commandLine(parsed.pid)).toContain('--initial-old-space-size=64'); // the heap flags (src/cli/node-flags.ts)
    expect(parsed.url).toBe(url);
    expect(parsed.endpoints.map((e) => e.id)).toEqual(['demo-a', 'demo-b']);
    expect(parsed.endpoints.reduce((n, e) => n + e.requests, 0)).toBe(1);

    const stop = await runCli(dir, ['proxy', 'stop']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('stopped');
    const after = await runCli(dir, ['proxy', 'status']);
    expect(after.code).toBe(3);
    expect(after.stdout).toContain('not running');
    expect(existsSync(join(dir, 'proxy.json'))).toBe(false);
  });

  it('records a foreground proxy too, so status and stop find it; it runs with the heap flags, relaunched', async () => {
    const dir = home();
    const { child, match } = await spawnCli(dir, ['proxy', 'start', '--foreground', '--demo', '--port', '0'], /listening on (http:\/\/[\d.]+:\d+)/);
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const status = await runCli(dir, ['proxy', 'status', '--json']);
    const { pid } = JSON.parse(status.stdout) as { pid: number };
    expect(JSON.parse(status.stdout)).toMatchObject({ running: true, url: match[1] });
    // Started without the flags, the command ran itself again with them: the proxy is the launcher's child.
    expect(pid).not.toBe(child.pid);
    expect(parentOf(pid)).toBe(child.pid);
    expect(commandLine(pid)).toContain('--initial-old-space-size=64');
    await runCli(dir, ['proxy', 'stop']);
    expect(await exited).toBe(0); // the launcher exits as the proxy did
  });

  it('a foreground proxy whose launcher is killed outright stops too, rather than hold the port orphaned', async () => {
    const dir = home();
    const { child } = await spawnCli(dir, ['proxy', 'start', '--foreground', '--demo', '--port', '0'], /listening on/);
    const { pid } = JSON.parse(readFileSync(join(dir, 'proxy.json'), 'utf8')) as { pid: number };
    child.kill('SIGKILL');
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(join(dir, 'proxy.json'))).toBe(false); // it stopped the normal way, record removed
  });

  it('notices a stale record left by a crash', async () => {
    const dir = home();
    writeFileSync(join(dir, 'proxy.json'), JSON.stringify({ pid: 999_999, url: 'http://127.0.0.1:1', host: '127.0.0.1', port: 1, started_at: 'x', config: 'x', log: null }));
    const status = await runCli(dir, ['proxy', 'status']);
    expect(status.code).toBe(3);
    expect(status.stdout).toContain('stale record of pid 999999');
    expect(existsSync(join(dir, 'proxy.json'))).toBe(false);
  });

  it('drains an in-flight stream before stopping', async () => {
    const dir = home();
    const sim = await h.sim({ name: 'slow', behavior: { deltas: 10, deltaIntervalMs: 150 } });
    writeConfig(dir, { version: 1, endpoints: [{ id: 'slow', base_url: sim.url }] });
    const start = await runCli(dir, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: MESSAGE.replace('"hi"}]', '"hi"}],"stream":true'), headers: { 'content-type': 'application/json' } });
    const body = res.body.text();
    const stop = await runCli(dir, ['proxy', 'stop']);
    expect(stop.code).toBe(0);
    expect(await body).toContain('event: message_stop');
  });

  it('refuses to listen beyond loopback without an access key, saying why', async () => {
    const dir = home();
    const r = await runCli(dir, ['proxy', 'start', '--foreground', '--demo', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('without an access key');
    expect(r.stderr).toContain('proxy.access_keys');
  });

  it('a failed background start says why first, in one line, and shows only its own log lines', async () => {
    const dir = home();
    // An earlier run leaves its lines in proxy.log.
    expect((await runCli(dir, ['proxy', 'start', '--demo', '--port', '0'])).code).toBe(0);
    expect((await runCli(dir, ['proxy', 'stop'])).code).toBe(0);
    const r = await runCli(dir, ['proxy', 'start', '--demo', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(1);
    const [first] = r.stderr.split('\n');
    expect(first).toMatch(/^qcc: the proxy did not start: refusing to listen on 0\.0\.0\.0 without an access key/);
    expect(r.stderr).not.toContain('qcc proxy listening'); // the earlier run's lines stay out
    expect(r.stderr).not.toMatch(/^\{"level"/m); // and what is shown is readable, not raw JSON
  });

  it('starts with no endpoint, says how to add one (and so does every request), and serves the first one added at once', async () => {
    const dir = home();
    const start = await runCli(dir, ['proxy', 'start', '--port', '0']);
    expect(start.code, start.stderr).toBe(0);
    const url = /listening on (\S+)/.exec(start.stdout + start.stderr)![1]!;
    const ask = () => rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    const before = await ask();
    expect(before.status).toBe(503);
    expect(JSON.parse(before.body)).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(JSON.parse(before.body).error.message).toMatch(/no endpoints yet: add one with `qcc endpoint add main .*qcc dashboard/);
    expect((await rawRequest(`${url}/dashboard/`, {})).status).toBe(200);
    const sim = await h.sim();
    expect((await runCli(dir, ['endpoint', 'add', 'first', '--base-url', sim.url])).code).toBe(0);
    // The running proxy applies the config file's change: poll until the new endpoint serves.
    const deadline = Date.now() + 5_000;
    let status = 0;
    while ((status = (await ask()).status) !== 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(status).toBe(200);
  });

  it('an invalid edit of the config on disk shows in proxy status (and --json) until it is fixed; the proxy keeps serving', async () => {
    const dir = home();
    const sim = await h.sim();
    const file = writeConfig(dir, { version: 1, endpoints: [{ id: 'one', base_url: sim.url }] });
    const start = await runCli(dir, ['proxy', 'start', '--port', '0']);
    expect(start.code, start.stderr).toBe(0);
    const url = /listening on (\S+)/.exec(start.stdout + start.stderr)![1]!;
    const valid = readFileSync(file, 'utf8');
    writeFileSync(file, valid.replace('"id": "one"', '"id": "one", "weight": -2'));
    const problem = async () => {
      const r = await runCli(dir, ['proxy', 'status', '--json']);
      return (JSON.parse(r.stdout) as { config_problem: { since: string; file: string; problem: string } | null }).config_problem;
    };
    await expect.poll(problem, { timeout: 5_000, interval: 100 }).not.toBeNull();
    expect(await problem()).toMatchObject({ file, problem: expect.stringMatching(/endpoints\[0\]\.weight: .*greater than 0/) });
    const text = await runCli(dir, ['proxy', 'status']);
    expect(text.stdout).toMatch(/config on disk is invalid since \d\d:\d\d UTC: endpoints\[0\]\.weight: .*; running with the last valid one \(fix .*config\.json\)/);
    // Still serving, with the last valid config.
    const served = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: MESSAGE });
    expect(served.status).toBe(200);
    writeFileSync(file, valid);
    await expect.poll(problem, { timeout: 5_000, interval: 100 }).toBeNull();
    expect((await runCli(dir, ['proxy', 'status'])).stdout).not.toContain('invalid');
  });

  it('says clearly when the port is taken', async () => {
    const sim = await h.sim();
    const r = await runCli(home(), ['proxy', 'start', '--foreground', '--demo', '--port', String(sim.port)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${sim.port} on 127.0.0.1 is already in use`);
  });
});

describe('config files', () => {
  it('a file that does not parse: every command fails with line and column, and the file is untouched', async () => {
    const dir = home();
    const broken = '{\n  "version": 1,\n  "endpoints": [\n    {"id": "a", "base_url": "https://x.example"},\n  ]\n}\n';
    const file = writeConfig(dir, broken);
    for (const args of [['proxy', 'start', '--foreground', '--port', '0'], ['endpoint', 'list'], ['config', 'show'], ['endpoint', 'add', 'b', '--base-url', 'https://y.example', '--api-key', 'k'], ['endpoint', 'disable', 'a']]) {
      const r = await runCli(dir, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/cannot parse .*config\.json/);
      expect(r.stderr).toMatch(/line 5|position/);
      expect(r.stderr).toContain('will not overwrite');
    }
    expect(readFileSync(file, 'utf8')).toBe(broken);
  });

  it('a file that parses but is invalid: the JSON path and the fix are named', async () => {
    const dir = home();
    const content = { version: 1, endpoints: [{ id: 'a', base_url: 'not a url', weight: -1, colour: 'red' }] };
    const file = writeConfig(dir, content);
    const r = await runCli(dir, ['endpoint', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('endpoints[0].base_url: must be an absolute http(s) URL');
    expect(r.stderr).toContain('endpoints[0].weight: must be greater than 0');
    expect(r.stderr).toContain('endpoints[0]: unknown field "colour"');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(content);
  });

  it('migrates the legacy single-endpoint form to an endpoint "default", keeping a .bak', async () => {
    const dir = home();
    const legacy = { base_url: 'https://api.anthropic.com', api_key: 'sk-ant-legacy-secret-1234', port: 7999 };
    const file = writeConfig(dir, legacy);
    const r = await runCli(dir, ['endpoint', 'list', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ id: 'default', base_url: 'https://api.anthropic.com', api_key: 'sk-ant-…1234' })]);
    expect(JSON.parse(readFileSync(`${file}.bak`, 'utf8'))).toEqual(legacy);
    const migrated = JSON.parse(readFileSync(file, 'utf8')) as { version: number; proxy: { port: number }; endpoints: { api_key: string }[] };
    expect(migrated.version).toBe(1);
    expect(migrated.proxy.port).toBe(7999);
    expect(migrated.endpoints[0]!.api_key).toBe('sk-ant-legacy-secret-1234');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('endpoint add writes a 0600 file, keeps keys out of output, and takes keys from env or stdin', async () => {
    const dir = home();
    const add = await runCli(dir, ['endpoint', 'add', 'main', '--base-url', 'https://api.anthropic.com', '--api-key-env', 'MY_KEY'], { env: { MY_KEY: 'sk-ant-api03-verysecretvalue-9876' } });
    expect(add.code).toBe(0);
    expect(add.stdout).not.toContain('verysecretvalue');
    const pool = await runCli(dir, ['endpoint', 'add', 'pool', '--base-url', 'https://relay.example/api', '--api-key-stdin'], { input: 'k-one-aaaa1111\nk-two-bbbb2222\n' });
    expect(pool.code).toBe(0);
    const file = join(dir, 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = await runCli(dir, ['endpoint', 'list']);
    expect(list.stdout).toContain('sk-ant-…9876');
    expect(list.stdout).toContain('2 keys');
    expect(list.stdout).not.toContain('verysecretvalue');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { endpoints: { api_key?: string; api_keys?: string[] }[] };
    expect(saved.endpoints[0]!.api_key).toBe('sk-ant-api03-verysecretvalue-9876');
    expect(saved.endpoints[1]!.api_keys).toEqual(['k-one-aaaa1111', 'k-two-bbbb2222']);
    const insecure = await runCli(dir, ['endpoint', 'add', 'plain', '--base-url', 'http://relay.example', '--api-key', 'k']);
    expect(insecure.code).toBe(1);
    expect(insecure.stderr).toContain('base_url: plain http to relay.example would send keys in clear text');
    expect(insecure.stderr).toContain('--allow-insecure-http');
    // The same rule for a hand-written file: `config validate` agrees with the CLI (it used to pass).
    const other = join(dir, 'lan.json');
    writeFileSync(other, JSON.stringify({ version: 1, endpoints: [{ id: 'lan', base_url: 'http://192.168.1.10:3000' }] }));
    const validate = await runCli(dir, ['config', 'validate', other]);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain('endpoints[0].base_url: plain http to 192.168.1.10');
    // With the opt-in, a LAN relay is accepted, by the CLI and in the file.
    const lan = await runCli(dir, ['endpoint', 'add', 'lan', '--base-url', 'http://192.168.1.10:3000', '--allow-insecure-http']);
    expect(lan.code, lan.stderr).toBe(0);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { endpoints: { id: string; allow_insecure_http?: boolean }[] }).endpoints.find((e) => e.id === 'lan')!.allow_insecure_http).toBe(true);
    const dup = await runCli(dir, ['endpoint', 'add', 'main', '--base-url', 'https://x.example']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('exists already');
  });
});
