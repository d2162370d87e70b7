import Anthropic from '@anthropic-ai/sdk';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { Harness } from '../helpers/servers.js';

/** `qcc key …` against a running proxy, as a team lead would use it (#23). */

const h = new Harness();
let home: string | undefined;
afterEach(async () => {
  if (home) await runCli(home, ['proxy', 'stop']);
  home = undefined;
  await h.closeAll();
});

const ask = (url: string, key: string) =>
  new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 }).messages
    .create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] })
    .then(() => 200)
    .catch((e: unknown) => (e instanceof Anthropic.APIError ? (e.status ?? 0) : Promise.reject(e)));

/** Every file under a directory, as bytes. */
function filesUnder(dir: string): Buffer[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [readFileSync(p)];
  });
}

describe('qcc key', () => {
  it('add prints the secret once; the running proxy enforces, lists usage, and applies revoke and rotate at once', async () => {
    const sim = await h.sim({ behavior: { usage: { input_tokens: 1000, output_tokens: 10 } } });
    home = tempHome();
    writeConfig(home, { version: 1, endpoints: [{ id: 'sim', base_url: sim.url, api_key: 'sk-endpoint' }] });
    const start = await runCli(home, ['proxy', 'start', '--port', '0']);
    expect(start.code, start.stderr).toBe(0);
    const url = /listening on (\S+)/.exec(start.stdout)![1]!;
    // Open until the first key; closed from then on, without a restart.
    expect(await ask(url, 'anything')).toBe(200);

    const add = await runCli(home, ['key', 'add', 'alice', '--rpm', '3', '--budget', '5/day', '--note', 'team lead']);
    expect(add.code, add.stderr).toBe(0);
    const secret = /\n {2}(qcc-[A-Za-z0-9_-]{43})\n/.exec(add.stdout)![1]!;
    expect(add.stdout).toContain('the running proxy accepts it now');
    expect(await ask(url, 'anything')).toBe(401);
    expect([await ask(url, secret), await ask(url, secret), await ask(url, secret), await ask(url, secret)]).toEqual([200, 200, 200, 429]);

    const list = await runCli(home, ['key', 'list', '--json']);
    const [alice] = JSON.parse(list.stdout) as { name: string; prefix: string; usage: { requests_last_minute: number; refused: { rpm: number }; budget: { spent_usd: number } } }[];
    expect(alice).toMatchObject({ name: 'alice', prefix: secret.slice(0, 10), usage: { requests_last_minute: 3, refused: { rpm: 1 }, budget: { spent_usd: 0.00315 } } });
    const table = await runCli(home, ['key', 'list']);
    expect(table.stdout).toMatch(/alice\s+qcc-\S+…\s+active\s+3 rpm\s+3 req, 3\.0k tok\s+\$0\.00 of \$5\.00\/day/);

    const rotate = await runCli(home, ['key', 'rotate', 'alice', '--json']);
    const rotated = (JSON.parse(rotate.stdout) as { secret: string }).secret;
    expect(await ask(url, secret)).toBe(401); // the old secret, refused on the very next request
    expect(await ask(url, rotated)).toBe(429); // same name, same minute: the limit follows the key, not the secret
    const revoke = await runCli(home, ['key', 'revoke', 'alice']);
    expect(revoke.stdout).toContain('the running proxy refuses it from now on');
    expect(await ask(url, rotated)).toBe(401);

    // Per-key stats and logs.
    const stats = await runCli(home, ['stats', '--by', 'key', '--json']);
    const groups = (JSON.parse(stats.stdout) as { groups: { key: string; requests: number; refused: number }[] }).groups;
    expect(groups.find((g) => g.key === 'alice')).toMatchObject({ requests: 5, refused: 2 });
    const logs = await runCli(home, ['logs', '--key', 'alice', '--json']);
    const rows = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { key: string; error: string | null });
    expect(rows.map((r) => r.error)).toEqual([null, null, null, 'key-rpm', 'key-rpm']);

    // The secrets were printed once each and are in no file qcc wrote (config, pepper, log, request log).
    await runCli(home, ['proxy', 'stop']);
    for (const file of filesUnder(home)) {
      expect(file.includes(Buffer.from(secret))).toBe(false);
      expect(file.includes(Buffer.from(rotated))).toBe(false);
    }
    expect(statSync(join(home, 'client-key-pepper')).mode & 0o777).toBe(0o600);
  });

  it('claude setup --key writes the key into Claude Code settings, checked against its record', async () => {
    home = tempHome();
    writeConfig(home, { version: 1, endpoints: [] });
    const add = await runCli(home, ['key', 'add', 'bob', '--json']);
    const { secret } = JSON.parse(add.stdout) as { secret: string };
    const claudeDir = mkdtempSync(join(tmpdir(), 'qcc-claude-cfg-'));
    const env = { CLAUDE_CONFIG_DIR: claudeDir };
    const wrong = await runCli(home, ['claude', 'setup', '--key', 'bob'], { input: `qcc-${'x'.repeat(43)}\n`, env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('that secret is not key "bob"\'s');
    const ok = await runCli(home, ['claude', 'setup', '--key', 'bob', '--url', 'http://qcc.team.lan:7860'], { input: `${secret}\n`, env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).not.toContain(secret); // shown masked
    const settings = JSON.parse(readFileSync(join(claudeDir, 'settings.json'), 'utf8')) as { env: Record<string, string> };
    expect(settings.env).toMatchObject({ ANTHROPIC_BASE_URL: 'http://qcc.team.lan:7860', ANTHROPIC_AUTH_TOKEN: secret });
    // Without a key, a proxy with client keys says how to get one rather than failing later with a 401.
    const none = await runCli(home, ['claude', 'setup', '--dry-run'], { env });
    expect(none.stderr).toContain('this qcc needs a key');
  });
});
