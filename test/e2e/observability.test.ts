import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { request } from 'undici';
import { CLI, cliTestEnv, runCli, writeConfig } from '../helpers/cli.js';
import { endpoint, sleep } from '../helpers/servers.js';

const { h, homes } = cliTestEnv();

const BODY = JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });

async function startProxy(config: unknown): Promise<{ home: string; url: string; pid: number }> {
  const home = homes.make();
  writeConfig(home, config);
  // At debug, so that the log has a line per request for the secrets checks below to look through.
  const r = await runCli(home, ['proxy', 'start', '--port', '0', '--log-level', 'debug']);
  expect(r.code, r.stderr).toBe(0);
  const record = JSON.parse(readFileSync(join(home, 'proxy.json'), 'utf8')) as { url: string; pid: number };
  return { home, ...record };
}

describe('durability and secrecy of what is recorded', () => {
  it('kill -9 loses at most the last batch window and never corrupts the database', async () => {
    const sim = await h.sim({ name: 'up', record: false });
    const { home, url, pid } = await startProxy({ version: 1, stats: { flush_ms: 100 }, endpoints: [endpoint('up', sim)] });
    for (let i = 0; i < 40; i++) await (await request(`${url}/v1/messages`, { method: 'POST', body: BODY })).body.dump();
    await sleep(400); // longer than the flush window: these 40 must be on disk
    for (let i = 0; i < 10; i++) await (await request(`${url}/v1/messages`, { method: 'POST', body: BODY })).body.dump();
    process.kill(pid, 'SIGKILL');
    await sleep(100);
    const db = new Database(join(home, 'qcc.db'));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const n = (db.prepare('SELECT count(*) AS n FROM requests').get() as { n: number }).n;
    db.close();
    expect(n).toBeGreaterThanOrEqual(40);
    expect(n).toBeLessThanOrEqual(50);
    // The crash left a stale record; status notices it.
    const status = await runCli(home, ['proxy', 'status']);
    expect(status.stdout).toContain('stale');
  });

  it('no key used anywhere appears in the log file or the database', async () => {
    const secrets = ['sk-ant-endpoint-SECRET-0001', 'sk-ant-pool-SECRET-0002', 'sk-ant-pool-SECRET-0003', 'qcc-access-SECRET-0004', 'sk-client-SECRET-0005'];
    const good = await h.sim({ name: 'good', record: false });
    const rejecting = await h.sim({ name: 'rejecting', behavior: { status: 401 }, record: false });
    const { home, url } = await startProxy({
      version: 1,
      proxy: { access_keys: [secrets[3]] },
      endpoints: [endpoint('rejecting', rejecting, { api_keys: [secrets[1], secrets[2]] }), endpoint('good', good, { api_key: secrets[0] })],
    });
    for (let i = 0; i < 6; i++) {
      const headers = i % 2 ? { 'x-api-key': secrets[3]! } : { authorization: `Bearer ${secrets[3]}` };
      await (await request(`${url}/v1/messages?beta=true`, { method: 'POST', body: BODY, headers })).body.dump();
    }
    await (await request(`${url}/v1/messages`, { method: 'POST', body: BODY, headers: { 'x-api-key': secrets[4]! } })).body.dump(); // refused
    await runCli(home, ['proxy', 'stop']);
    const files = readdirSync(home).filter((f) => /\.(log|db|db-wal|json)$/.test(f) && f !== 'config.json');
    expect(files).toEqual(expect.arrayContaining(['proxy.log', 'qcc.db']));
    for (const f of files) {
      const content = readFileSync(join(home, f)).toString('latin1');
      for (const s of secrets) expect(content.includes(s), `${s} in ${f}`).toBe(false);
    }
    // And the outputs users see.
    for (const args of [['config', 'show'], ['endpoint', 'list'], ['logs', '--json'], ['stats']]) {
      const out = await runCli(home, args);
      for (const s of secrets) expect(out.stdout.includes(s), `${s} in qcc ${args.join(' ')}`).toBe(false);
    }
    expect(readFileSync(join(home, 'proxy.log'), 'utf8')).toContain('"msg":"request"');
  });
});

describe('following and grouping', () => {
  it('qcc logs --follow prints requests as they happen; stats groups by model and day', async () => {
    const sim = await h.sim({ name: 'up', record: false });
    const { home, url } = await startProxy({ version: 1, stats: { flush_ms: 50 }, endpoints: [endpoint('up', sim)] });
    await (await request(`${url}/v1/messages`, { method: 'POST', body: BODY })).body.dump();
    const child = spawn(process.execPath, [CLI, 'logs', '--follow', '--json', '--tail', '0'], { env: { ...process.env, QCC_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const output = () => out;
    let sent = 0;
    try {
      // The follower's start takes its own time (a CLI process): requests are sent until it prints one, so a slow
      // start cannot make the test miss the only request it would have seen.
      const deadline = Date.now() + 10_000;
      while (!output().includes('claude-sonnet-5') && Date.now() < deadline) {
        await (await request(`${url}/v1/messages`, { method: 'POST', body: BODY.replace('haiku-4-5-20251001', 'sonnet-5') })).body.dump();
        sent++;
        await sleep(300);
      }
      await sleep(300);
      const lines = output().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { model: string });
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.every((l) => l.model === 'claude-sonnet-5')).toBe(true); // --tail 0: never the earlier haiku request
    } finally {
      child.kill();
    }
    const byModel = JSON.parse((await runCli(home, ['stats', '--by', 'model', '--json'])).stdout) as { groups: { key: string; requests: number }[] };
    expect(byModel.groups.map((g) => [g.key, g.requests]).sort()).toEqual([['claude-haiku-4-5-20251001', 1], ['claude-sonnet-5', sent]]);
    const byDay = JSON.parse((await runCli(home, ['stats', '--by', 'day', '--json'])).stdout) as { groups: { key: string; requests: number }[] };
    expect(byDay.groups).toEqual([expect.objectContaining({ key: new Date().toISOString().slice(0, 10), requests: 1 + sent })]);
    const bad = await runCli(home, ['stats', '--since', 'yesterday-ish']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('neither a duration');
  });
});
