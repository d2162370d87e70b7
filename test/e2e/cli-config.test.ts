import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { CLI, cliTestEnv, offlineClaudeEnv, runCli, writeConfig } from '../helpers/cli.js';
import { endpoint, eventually, sleep } from '../helpers/servers.js';

const { h, homes } = cliTestEnv();
const home = () => homes.make();
const cfgOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { proxy: Record<string, unknown>; endpoints: Record<string, unknown>[] };
const mode = (file: string) => statSync(file).mode & 0o777;

describe('endpoint commands', () => {
  it('set, disable, enable and remove, each leaving a 0600 file', async () => {
    const dir = home();
    const file = join(dir, 'config.json');
    expect((await runCli(dir, ['endpoint', 'add', 'a', '--base-url', 'https://a.example', '--api-key', 'sk-a-secret-1111'])).code).toBe(0);
    const set = await runCli(dir, ['endpoint', 'set', 'a', '--weight', '3', '--priority', '2', '--models', 'claude-sonnet-5', '--model-map', 'claude-sonnet-5=vendor-x', '--auth-mode', 'bearer', '--max-concurrency', '4']);
    expect(set.code, set.stderr).toBe(0);
    expect(mode(file)).toBe(0o600);
    expect(cfgOf(dir).endpoints[0]).toMatchObject({ weight: 3, priority: 2, models: ['claude-sonnet-5'], model_map: { 'claude-sonnet-5': 'vendor-x' }, auth_mode: 'bearer', max_concurrency: 4, api_key: 'sk-a-secret-1111' });
    for (const [cmd, enabled] of [['disable', false], ['enable', true]] as const) {
      expect((await runCli(dir, ['endpoint', cmd, 'a'])).code).toBe(0);
      expect(cfgOf(dir).endpoints[0]!.enabled).toBe(enabled);
      expect(mode(file)).toBe(0o600);
    }
    const nothing = await runCli(dir, ['endpoint', 'set', 'a']);
    expect(nothing.code).toBe(1);
    expect(nothing.stdout).toBe('');
    expect(nothing.stderr).toContain('nothing to change');
    const bad = await runCli(dir, ['endpoint', 'set', 'a', '--weight', '-2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('weight: must be greater than 0');
    const quiet = await runCli(dir, ['-q', 'endpoint', 'set', 'a', '--no-api-key']);
    expect(quiet.stdout).toBe('');
    expect(cfgOf(dir).endpoints[0]!.api_key).toBeUndefined();
    expect((await runCli(dir, ['endpoint', 'remove', 'a'])).code).toBe(0);
    expect(cfgOf(dir).endpoints).toEqual([]);
    expect((await runCli(dir, ['endpoint', 'remove', 'a'])).code).toBe(1);
  });
});

describe('config export / import', () => {
  const seed = (dir: string) =>
    writeConfig(dir, {
      version: 1,
      proxy: { port: 7999, access_keys: ['qcc-access-key-0001'] },
      endpoints: [
        { id: 'main', base_url: 'https://api.anthropic.com', api_key: 'sk-ant-main-secret-1' },
        { id: 'pool', base_url: 'https://relay.example/api', api_keys: ['sk-pool-1-xxxx', 'sk-pool-2-yyyy'], weight: 2 },
      ],
    });

  it('exports without keys by default and says so; with --with-secrets round-trips exactly', async () => {
    const dir = home();
    seed(dir);
    const plain = await runCli(dir, ['config', 'export']);
    expect(plain.code).toBe(0);
    for (const secret of ['sk-ant-main-secret-1', 'sk-pool-1-xxxx', 'sk-pool-2-yyyy', 'qcc-access-key-0001']) expect(plain.stdout).not.toContain(secret);
    expect(plain.stderr).toContain('keys left out');
    expect(JSON.parse(plain.stdout)._qcc_export.secrets).toBe('omitted');

    const exportFile = join(dir, 'full.json');
    expect((await runCli(dir, ['config', 'export', exportFile, '--with-secrets'])).code).toBe(0);
    expect(mode(exportFile)).toBe(0o600);
    const other = home();
    const imp = await runCli(other, ['config', 'import', exportFile, '--replace']);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toContain('add: main, pool');
    const full = async (d: string) => {
      const { _qcc_export: _meta, ...rest } = JSON.parse((await runCli(d, ['config', 'export', '--with-secrets'])).stdout);
      return rest;
    };
    expect(await full(other)).toEqual(await full(dir));
    expect(cfgOf(other).endpoints[1]!.api_keys).toEqual(['sk-pool-1-xxxx', 'sk-pool-2-yyyy']);
    expect(mode(join(other, 'config.json'))).toBe(0o600);
  });

  it('merging an export without keys never loses the keys already there', async () => {
    const dir = home();
    seed(dir);
    const before = cfgOf(dir);
    const exported = join(dir, 'nokeys.json');
    await runCli(dir, ['config', 'export', exported]);
    const edited = JSON.parse(readFileSync(exported, 'utf8'));
    edited.endpoints[1].weight = 5;
    edited.endpoints.push({ id: 'new', base_url: 'https://new.example' });
    writeFileSync(exported, JSON.stringify(edited));
    const r = await runCli(dir, ['config', 'import', exported, '--json']);
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({ mode: 'merge', added: ['new'], updated: ['pool'], unchanged: ['main'], kept_keys: ['main', 'pool'], keyless: ['new'] });
    const after = cfgOf(dir);
    expect(after.endpoints.find((e) => e.id === 'main')!.api_key).toBe('sk-ant-main-secret-1');
    expect(after.endpoints.find((e) => e.id === 'pool')).toMatchObject({ api_keys: ['sk-pool-1-xxxx', 'sk-pool-2-yyyy'], weight: 5 });
    expect(after.proxy.access_keys).toEqual(before.proxy.access_keys);
    expect(after.proxy.port).toBe(7999);
  });

  it('--dry-run prints the plan and changes nothing; legacy files import', async () => {
    const dir = home();
    seed(dir);
    const bytes = readFileSync(join(dir, 'config.json'));
    const legacy = join(dir, 'legacy.json');
    writeFileSync(legacy, JSON.stringify({ base_url: 'https://legacy.example', api_key: 'sk-legacy-zzzz' }));
    const dry = await runCli(dir, ['config', 'import', legacy, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would import');
    expect(dry.stdout).toContain('add: default');
    expect(readFileSync(join(dir, 'config.json')).equals(bytes)).toBe(true);
    expect((await runCli(dir, ['config', 'import', legacy])).code).toBe(0);
    expect(cfgOf(dir).endpoints.map((e) => e.id)).toEqual(['main', 'pool', 'default']);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"version": 1, "endpoints": [{"id": "x"}]}');
    const bad = await runCli(dir, ['config', 'import', broken]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('endpoints[0].base_url');
  });
});

describe('hot reload', () => {
  it('applies a weight change while a stream runs: the stream completes, new requests follow the new weights', async () => {
    const a = await h.sim({ name: 'a', behavior: { deltas: 20, deltaIntervalMs: 50 }, record: false });
    const b = await h.sim({ name: 'b', record: false });
    const dir = home();
    writeConfig(dir, { version: 1, proxy: { session_affinity: false }, endpoints: [endpoint('a', a), endpoint('b', b)] });
    const start = await runCli(dir, ['proxy', 'start', '--port', '0']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    const streamBody = JSON.stringify({ model: 'm', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'x' }] });
    // Make sure the long stream lands on "a".
    let res = await request(`${url}/v1/messages`, { method: 'POST', body: streamBody });
    while (res.headers['x-qcc-endpoint'] !== 'a') {
      await res.body.dump();
      res = await request(`${url}/v1/messages`, { method: 'POST', body: streamBody });
    }
    const streamText = res.body.text();
    expect((await runCli(dir, ['endpoint', 'set', 'a', '--weight', '1'])).code).toBe(0);
    expect((await runCli(dir, ['endpoint', 'set', 'b', '--weight', '9'])).code).toBe(0);
    const countB = async () => {
      let n = 0;
      for (let i = 0; i < 40; i++) {
        const r = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }) });
        if (r.headers['x-qcc-endpoint'] === 'b') n++;
        await r.body.dump();
      }
      return n;
    };
    await eventually(() => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).endpoints[1].weight === 9);
    await sleep(400); // the watcher debounces for 100 ms
    expect(await countB()).toBeGreaterThanOrEqual(33); // 9:1 → 36 of 40 expected
    expect(await streamText).toContain('event: message_stop');

    // An invalid edit is rejected and the running config stays in force.
    writeFileSync(join(dir, 'config.json'), '{"version": 1, "endpoints": [');
    await sleep(400);
    expect(await countB()).toBeGreaterThanOrEqual(33);
    const log = readFileSync(join(dir, 'proxy.log'), 'utf8');
    expect(log).toContain('config change rejected');
  });
});

describe('lifecycle and integration commands', () => {
  it('proxy logs shows readable lines; restart keeps the port', async () => {
    const dir = home();
    // Per-request lines are debug (the request log is the record of requests); asked for here, to read them.
    const start = await runCli(dir, ['proxy', 'start', '--demo', '--port', '0', '--log-level', 'debug']);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    await (await request(`${url}/v1/messages`, { method: 'POST', body: '{"model":"m","max_tokens":1,"messages":[]}' })).body.dump();
    await sleep(100);
    const logs = await runCli(dir, ['proxy', 'logs', '-n', '5']);
    expect(logs.stdout).toMatch(/DEBUG\s+request\s+request_id=req_qcc_/);
    const json = await runCli(dir, ['proxy', 'logs', '-n', '1', '--json']);
    expect(() => JSON.parse(json.stdout)).not.toThrow();
    const restart = await runCli(dir, ['proxy', 'restart', '--demo']);
    expect(restart.code, restart.stderr).toBe(0);
    expect(restart.stdout).toContain(`listening on ${url}`);
  });

  it('service install writes a systemd user unit; uninstall removes it', async () => {
    const dir = home();
    const fakeHome = mkdtempSync(join(tmpdir(), 'qcc-svc-'));
    const env = { HOME: fakeHome, PATH: '/nonexistent' }; // no systemctl: the commands to run are printed instead
    const dry = await runCli(dir, ['service', 'install', '--dry-run'], { env });
    expect(dry.stdout).toContain('ExecStart=');
    expect(existsSync(join(fakeHome, '.config/systemd/user/qcc.service'))).toBe(false);
    expect(dry.stdout).toContain('then run:\n  systemctl --user daemon-reload');
    const dryNoEnable = await runCli(dir, ['service', 'install', '--dry-run', '--no-enable'], { env });
    expect(dryNoEnable.stdout).not.toContain('then run:');
    expect(dryNoEnable.stdout).toContain('(not enabled: --no-enable');
    // Written, but nothing can enable it (no systemctl here, as with no user bus): that is a failure, said why.
    const install = await runCli(dir, ['service', 'install'], { env });
    expect(install.code).toBe(1);
    expect(install.stderr).toMatch(/could not enable it: `systemctl --user daemon-reload` failed \(.*ENOENT\).*loginctl enable-linger/s);
    const noEnable = await runCli(dir, ['service', 'install', '--no-enable'], { env });
    expect(noEnable.code).toBe(0);
    expect(noEnable.stdout).toContain('not enabled (--no-enable)');
    const unit = readFileSync(join(fakeHome, '.config/systemd/user/qcc.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${process.execPath} --initial-old-space-size=64 ${CLI} --config ${join(dir, 'config.json')} proxy start --foreground`);
    expect(unit).toContain(`Environment=QCC_HOME=${dir}`);
    expect(install.stderr).toContain('systemctl --user enable --now qcc.service');
    const un = await runCli(dir, ['service', 'uninstall'], { env });
    expect(un.code).toBe(0);
    expect(existsSync(join(fakeHome, '.config/systemd/user/qcc.service'))).toBe(false);
  });

  it('claude setup shows the change, keeps a backup, and reset restores the file exactly', async () => {
    const dir = home();
    const claudeDir = mkdtempSync(join(tmpdir(), 'qcc-claude-cfg-'));
    const settings = join(claudeDir, 'settings.json');
    const original = '{\n  "model": "opus",\n  "env": { "FOO": "bar" }\n}\n';
    writeFileSync(settings, original);
    const env = { CLAUDE_CONFIG_DIR: claudeDir };
    const dry = await runCli(dir, ['claude', 'setup', '--dry-run'], { env });
    expect(dry.stdout).toContain('env.ANTHROPIC_BASE_URL: (unset) → http://127.0.0.1:7860');
    expect(readFileSync(settings, 'utf8')).toBe(original);
    expect((await runCli(dir, ['claude', 'setup'], { env })).code).toBe(0);
    const written = JSON.parse(readFileSync(settings, 'utf8'));
    expect(written).toMatchObject({ model: 'opus', env: { FOO: 'bar', ANTHROPIC_BASE_URL: 'http://127.0.0.1:7860', ANTHROPIC_AUTH_TOKEN: 'qcc-local' } });
    expect((await runCli(dir, ['claude', 'setup'], { env })).stdout).toContain('already points Claude Code at qcc');
    expect((await runCli(dir, ['claude', 'reset'], { env })).code).toBe(0);
    expect(readFileSync(settings, 'utf8')).toBe(original);
  });

  it('qcc claude starts the proxy and runs the real claude CLI through it', async () => {
    const sim = await h.sim({ name: 'sim', behavior: { answer: 'launched through qcc' } });
    const dir = home();
    writeConfig(dir, { version: 1, proxy: { port: 0 }, endpoints: [endpoint('sim', sim, { api_key: 'sk-endpoint' })] });
    const r = await runCli(dir, ['claude', '--', '-p', 'say hi', '--output-format', 'json'], {
      env: {
        ...offlineClaudeEnv(),
      },
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result).toBe('launched through qcc');
    expect(r.stderr).toContain('starting it');
    expect(sim.requests.some((x) => x.headers.authorization === 'Bearer sk-endpoint')).toBe(true);
  }, 60_000);
});

describe('config browser', () => {
  it('adds an endpoint from a preset, driven through a real terminal (tmux)', async () => {
    const dir = home();
    const session = `qcc-test-${process.pid}`;
    const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
    const screen = () => tmux('capture-pane', '-p', '-t', session);
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '40', `QCC_HOME=${dir} ${process.execPath} ${CLI} config browser`);
    try {
      const waitFor = async (text: string) => eventually(() => screen().includes(text), 5000, 50);
      const keys = async (...k: string[]) => {
        tmux('send-keys', '-t', session, ...k);
        await sleep(150);
      };
      await waitFor('Add from a preset');
      await keys('Enter'); // "Add from a preset…" is the first choice with no endpoints
      await waitFor('DeepSeek');
      await keys('Down', 'Enter');
      await waitFor('Endpoint id');
      await keys('Enter'); // accept the default id
      await waitFor('API key');
      await keys('-l', 'sk-deepseek-from-tmux-9876');
      await keys('Enter');
      await waitFor('Weight');
      // 0 is not a weight the schema takes: the prompt says so and asks again, instead of crashing.
      await keys('-l', '0');
      await keys('Enter');
      await waitFor('weight must be greater than 0');
      await keys('BSpace');
      await keys('-l', '2');
      await keys('Enter');
      await waitFor('Add ●');
      await keys('Enter');
      await waitFor('added deepseek');
      expect(screen()).not.toContain('sk-deepseek-from-tmux-9876'); // typed keys are masked
      await keys('Up', 'Enter'); // Quit is the last choice
      await eventually(() => !tmux('list-sessions').includes(session) || screen().trim() === '', 5000).catch(() => undefined);
    } finally {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        /* already gone */
      }
    }
    expect(cfgOf(dir).endpoints).toEqual([expect.objectContaining({ id: 'deepseek', base_url: 'https://api.deepseek.com/anthropic', api_key: 'sk-deepseek-from-tmux-9876', weight: 2 })]);
    expect(mode(join(dir, 'config.json'))).toBe(0o600);
  });
});

describe('a closed stdout', () => {
  it('ends the command quietly with status 0, as `git log | head -1` does', async () => {
    const dir = home();
    writeConfig(dir, { version: 1, endpoints: [{ id: 'a', base_url: 'https://a.example' }] });
    for (const args of [['config', 'show'], ['stats'], ['logs', '--tail', '30'], ['proxy', 'status'], ['--help']]) {
      const out = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, QCC_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy(); // the reader is gone before the first line is written
        let stderr = '';
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
      expect(out.stderr, args.join(' ')).not.toContain('EPIPE');
      expect(out.code, args.join(' ')).toBe(0);
    }
  });
});

describe('global options', () => {
  it('-q and --config work after the subcommand too', async () => {
    const dir = home();
    const quiet = await runCli(dir, ['endpoint', 'add', 'f4', '--base-url', 'https://f4.example', '-q']);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toBe('');
    const other = home();
    const list = await runCli(other, ['endpoint', 'list', '--config', join(dir, 'config.json')]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('https://f4.example');
  });
});

describe('help', () => {
  it('every command group shows examples in its --help', async () => {
    const dir = home();
    for (const group of ['proxy', 'endpoint', 'config', 'service', 'claude']) {
      const r = await runCli(dir, [group, '--help']);
      expect(r.code, group).toBe(0);
      expect(r.stdout, group).toMatch(new RegExp(`Examples:\\n  qcc ${group} `));
    }
  });
});

describe('every endpoint field from the CLI', () => {
  it('add and set take protocol, openai options, health models, model map and oauth pass-through, checked by the schema', async () => {
    const dir = home();
    const add = await runCli(dir, [
      'endpoint', 'add', 'chat', '--base-url', 'https://llm.example/v1', '--protocol', 'openai', '--openai-reasoning', 'drop',
      '--openai-map-effort', 'true', '--health-models', 'm1,m2', '--model-map', 'claude-sonnet-5=vendor-large', '--oauth-passthrough', 'true',
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(cfgOf(dir).endpoints[0]).toMatchObject({
      protocol: 'openai',
      openai: { reasoning: 'drop', map_effort: true },
      health_models: ['m1', 'm2'],
      model_map: { 'claude-sonnet-5': 'vendor-large' },
      oauth_passthrough: true,
    });
    const set = await runCli(dir, ['endpoint', 'set', 'chat', '--protocol', 'anthropic', '--health-models', '', '--openai-map-effort', 'false']);
    expect(set.code, set.stderr).toBe(0);
    const after = cfgOf(dir).endpoints[0]!;
    expect(after).toMatchObject({ protocol: 'anthropic', openai: { reasoning: 'drop', map_effort: false } });
    expect(after.health_models).toBeUndefined();
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    const wrong = await runCli(dir, ['endpoint', 'set', 'chat', '--protocol', 'grpc']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/protocol: .*"anthropic"\|"openai"|protocol: .*anthropic.*openai/);
    expect((await runCli(dir, ['endpoint', 'set', 'chat', '--oauth-passthrough', 'maybe'])).stderr).toContain('--oauth-passthrough is true or false, not "maybe"');
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(before);
  });
});
