import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthReport } from '../../src/cli/health.js';
import type { AppStatus } from '../../src/shared/api-types.js';
import { cliTestEnv, offlineClaudeEnv, runCli, writeConfig } from '../helpers/cli.js';
import { PROXY_ONLY_HOST, startTinyproxy, type OutboundProxy } from '../helpers/outbound-proxies.js';
import { endpoint } from '../helpers/servers.js';

/** The proxy settings as a user meets them: the CLI, `qcc health`, `qcc proxy status` and `qcc claude`. */

const { h, homes } = cliTestEnv();
const cfgOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { proxy: Record<string, unknown>; endpoints: Record<string, unknown>[] };

let tiny: OutboundProxy;
beforeAll(async () => {
  tiny = await startTinyproxy();
});
afterAll(() => tiny.close());

/** No proxy variables from the test runner's own environment. */
const CLEAN = { HTTPS_PROXY: '', HTTP_PROXY: '', ALL_PROXY: '', https_proxy: '', http_proxy: '', all_proxy: '', NO_PROXY: '', no_proxy: '' };

describe('endpoint --proxy and config set proxy.upstream_proxy', () => {
  it('stores the proxy, shows it masked everywhere but an export with secrets, and explains a bad one', async () => {
    const dir = homes.make();
    const secretUrl = 'http://alice:pr0xy-pa55@proxy.corp.example:3128';
    const add = await runCli(dir, ['endpoint', 'add', 'main', '--base-url', 'https://api.anthropic.com', '--api-key', 'sk-ant-k-1234', '--proxy', secretUrl], { env: CLEAN });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe('added endpoint main (https://api.anthropic.com, key sk-ant-…1234, via http://alice:***@proxy.corp.example:3128)\n');
    expect(cfgOf(dir).endpoints[0]!.proxy).toBe(secretUrl);

    const outputs = await Promise.all([
      runCli(dir, ['endpoint', 'list'], { env: CLEAN }),
      runCli(dir, ['endpoint', 'list', '--json'], { env: CLEAN }),
      runCli(dir, ['config', 'show'], { env: CLEAN }),
      runCli(dir, ['config', 'export'], { env: CLEAN }),
    ]);
    for (const o of outputs) {
      expect(o.code, o.stderr).toBe(0);
      expect(o.stdout + o.stderr).not.toContain('pr0xy-pa55');
    }
    expect(outputs[0]!.stdout).toMatch(/ROUTE[\s\S]*via http:\/\/alice:\*\*\*@proxy\.corp\.example:3128/);
    expect(JSON.parse(outputs[1]!.stdout)[0]).toMatchObject({ proxy: 'http://alice:***@proxy.corp.example:3128', route: { via: 'proxy', source: 'endpoint' } });
    const exported = JSON.parse(outputs[3]!.stdout) as { endpoints: { proxy: string }[] };
    expect(exported.endpoints[0]!.proxy).toBe('http://alice@proxy.corp.example:3128');
    expect((await runCli(dir, ['config', 'export', '--with-secrets'], { env: CLEAN })).stdout).toContain('pr0xy-pa55');

    // Importing the export without secrets keeps the password already there.
    const exportFile = join(dir, 'export.json');
    writeFileSync(exportFile, outputs[3]!.stdout);
    expect((await runCli(dir, ['config', 'import', exportFile], { env: CLEAN })).code).toBe(0);
    expect(cfgOf(dir).endpoints[0]!.proxy).toBe(secretUrl);

    const bad = await runCli(dir, ['endpoint', 'set', 'main', '--proxy', 'socks4://127.0.0.1:1080'], { env: CLEAN });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('proxy: socks4:// is not supported; qcc speaks SOCKS5');
    expect(cfgOf(dir).endpoints[0]!.proxy).toBe(secretUrl);

    expect((await runCli(dir, ['endpoint', 'set', 'main', '--proxy', 'direct'], { env: CLEAN })).stdout).toContain(', direct)');
    expect(cfgOf(dir).endpoints[0]!.proxy).toBe('direct');
    const back = await runCli(dir, ['endpoint', 'set', 'main', '--proxy', 'default'], { env: { ...CLEAN, HTTPS_PROXY: 'http://envproxy.example:8080' } });
    expect(back.stdout).toContain('via env HTTPS_PROXY (http://envproxy.example:8080)');
    expect(cfgOf(dir).endpoints[0]!.proxy).toBeUndefined();
  });

  it('config set/get/unset: validated by the schema, secrets masked, nothing written when wrong', async () => {
    const dir = homes.make();
    writeConfig(dir, { version: 1, endpoints: [{ id: 'a', base_url: 'https://a.example' }] });
    const set = await runCli(dir, ['config', 'set', 'proxy.upstream_proxy', 'socks5h://u:sock-pw-1@127.0.0.1:1080'], { env: CLEAN });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('proxy.upstream_proxy = socks5h://u:***@127.0.0.1:1080\n');
    expect(cfgOf(dir).proxy.upstream_proxy).toBe('socks5h://u:sock-pw-1@127.0.0.1:1080');
    expect((await runCli(dir, ['config', 'get', 'proxy.upstream_proxy'])).stdout).toBe('socks5h://u:***@127.0.0.1:1080\n');
    const list = await runCli(dir, ['endpoint', 'list'], { env: CLEAN });
    expect(list.stdout).toContain('via socks5h://u:***@127.0.0.1:1080');
    expect(list.stdout).not.toContain('sock-pw-1');

    expect((await runCli(dir, ['config', 'set', 'proxy.strategy', 'fastest'])).stdout).toBe('proxy.strategy = fastest\n');
    expect((await runCli(dir, ['config', 'set', 'health.interval_s', '120'])).stdout).toBe('health.interval_s = 120\n');
    expect((await runCli(dir, ['config', 'get', 'health.interval_s', '--json'])).stdout).toBe('120\n');
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    const wrong = await runCli(dir, ['config', 'set', 'proxy.strategy', 'fastest-ever']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not changed: proxy\.strategy: .*weighted-round-robin/);
    expect((await runCli(dir, ['config', 'set', 'endpoints.a', '1'])).stderr).toContain('qcc endpoint set');
    expect((await runCli(dir, ['config', 'set', 'proxy.no_such_field', '1'])).code).toBe(1);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(before);
    expect((await runCli(dir, ['config', 'unset', 'proxy.upstream_proxy'])).stdout).toBe('proxy.upstream_proxy unset\n');
    expect((await runCli(dir, ['config', 'unset', 'proxy.strategy'])).stdout).toBe('proxy.strategy back to its default, weighted-round-robin\n');
    expect(cfgOf(dir).proxy.upstream_proxy).toBeUndefined();
  });

  it('config set reaches nested settings: proxy.hedge.*', async () => {
    const dir = homes.make();
    writeConfig(dir, { version: 1, endpoints: [] });
    expect((await runCli(dir, ['config', 'get', 'proxy.hedge.after_ms'])).stdout).toBe('auto\n');
    expect((await runCli(dir, ['config', 'set', 'proxy.hedge.after_ms', '4000'])).stdout).toBe('proxy.hedge.after_ms = 4000\n');
    expect(cfgOf(dir).proxy.hedge).toMatchObject({ after_ms: 4000 });
    const wrong = await runCli(dir, ['config', 'set', 'proxy.hedge.max_ratio', '2']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not changed: proxy\.hedge\.max_ratio: /);
    expect((await runCli(dir, ['config', 'set', 'proxy.hedge.enabled', 'false'])).stdout).toBe('proxy.hedge.enabled = false\n');
    expect((await runCli(dir, ['config', 'get', 'proxy.hedge', '--json'])).stdout).toContain('"enabled": false');
    expect((await runCli(dir, ['config', 'unset', 'proxy.hedge.after_ms'])).stdout).toBe('proxy.hedge.after_ms back to its default, auto\n');
    expect((await runCli(dir, ['config', 'set', 'proxy.strategy.deeper', '1'])).stderr).toContain('proxy.strategy.deeper');
  });
});

describe('the route, end to end', () => {
  it('qcc health and qcc endpoint test follow HTTPS/HTTP_PROXY, and proxy status shows each route', async () => {
    const sim = await h.sim({ name: 'sim' });
    const dir = homes.make();
    writeConfig(dir, {
      version: 1,
      proxy: { port: 0 },
      // Reachable only through the proxy (the name resolves there alone), and a loopback one the variables never touch.
      endpoints: [{ id: 'far', base_url: `http://${PROXY_ONLY_HOST}:${sim.port}`, allow_insecure_http: true }, endpoint('near', sim)],
    });
    const env = { ...CLEAN, HTTP_PROXY: tiny.url, NO_PROXY: 'localhost' };
    const before = tiny.tunnels();
    const r = await runCli(dir, ['health', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.endpoints.map((e) => [e.id, e.ok])).toEqual([['far', true], ['near', true]]);
    expect(tiny.tunnels() - before).toBe(1);
    expect((await runCli(dir, ['endpoint', 'test', 'far'], { env })).code).toBe(0);

    // Without the variable the far endpoint cannot be reached, and the error says so.
    const direct = await runCli(dir, ['endpoint', 'test', 'far', '--json'], { env: CLEAN });
    expect(direct.code).toBe(1);
    expect((JSON.parse(direct.stdout) as HealthReport).results[0]!.error).toMatch(/ENOTFOUND|getaddrinfo/);

    const start = await runCli(dir, ['proxy', 'start'], { env });
    expect(start.code, start.stderr).toBe(0);
    const status = await runCli(dir, ['proxy', 'status', '--json'], { env });
    const routes = Object.fromEntries((JSON.parse(status.stdout) as AppStatus).endpoints.map((e) => [e.id, e.route.label]));
    expect(routes).toEqual({ far: `via env HTTP_PROXY (${tiny.url})`, near: 'direct' });
    expect((await runCli(dir, ['proxy', 'status'], { env })).stdout).toMatch(/ROUTE[\s\S]*via env HTTP_PROXY/);
  });

  it('qcc claude with HTTP(S)_PROXY set: Claude Code reaches qcc directly, never through the proxy', async () => {
    const sim = await h.sim({ name: 'sim', behavior: { answer: 'not through your proxy' } });
    const dir = homes.make();
    writeConfig(dir, { version: 1, proxy: { port: 0 }, endpoints: [endpoint('sim', sim)] });
    const before = tiny.log().length;
    const r = await runCli(dir, ['claude', '--', '-p', 'say hi', '--output-format', 'json'], {
      env: {
        ...CLEAN,
        HTTP_PROXY: tiny.url,
        HTTPS_PROXY: tiny.url,
        NO_PROXY: 'corp.example',
        ...offlineClaudeEnv(),
      },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result).toBe('not through your proxy');
    // The proxy saw nothing at all: Claude Code 2.1.197 sends its POST /v1/messages through HTTP_PROXY otherwise.
    expect(tiny.log().slice(before)).not.toMatch(/Request \(file descriptor/);
  }, 60_000);

  it('claude setup adds qcc\'s host to NO_PROXY, keeping the user\'s entries', async () => {
    const dir = homes.make();
    const claudeDir = mkdtempSync(join(tmpdir(), 'qcc-claude-cfg-'));
    writeFileSync(join(claudeDir, 'settings.json'), '{"env":{"NO_PROXY":"corp.example,.internal"}}');
    const r = await runCli(dir, ['claude', 'setup'], { env: { ...CLEAN, CLAUDE_CONFIG_DIR: claudeDir, no_proxy: 'lan.example' } });
    expect(r.code, r.stderr).toBe(0);
    const env = (JSON.parse(readFileSync(join(claudeDir, 'settings.json'), 'utf8')) as { env: Record<string, string> }).env;
    expect(env.NO_PROXY).toBe('corp.example,.internal,127.0.0.1');
    expect(env.no_proxy).toBe('lan.example,127.0.0.1');
  });
});
