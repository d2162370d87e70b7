import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../config/atomic-write.js';
import { loadConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import { maskSecret } from '../log.js';
import { CliError, printJson } from './output.js';
import { KEY_PREFIX, keyHash, loadPepper, looksLikeClientKey } from '../keys/secret.js';
import { startBackground } from './proxy.js';
import { inspectRecord } from './runtime-record.js';

/**
 * Claude Code integration. `qcc claude` runs `claude` pointed at the proxy through environment variables only
 * (qcc's host added to NO_PROXY, so the user's proxy variables do not capture that loopback traffic);
 * `qcc claude setup` writes them into Claude Code's settings file, after showing the change and keeping a
 * backup, and `qcc claude reset` puts the file back. Nothing else ever touches Claude Code's settings.
 */

/** What Claude Code sends as its key when the proxy has no access keys: qcc uses each endpoint's own key. */
const PLACEHOLDER_KEY = 'qcc-local';

function claudeSettingsPath(): string {
  const dir = process.env.CLAUDE_CONFIG_DIR ?? join(homedir(), '.claude');
  return join(dir, 'settings.json');
}

/**
 * The environment that points Claude Code at qcc. The key: a client key's secret when given (or in QCC_KEY), else
 * the first access key, else a placeholder (an open proxy uses its endpoints' own keys). A proxy with client keys
 * and no secret at hand is an error that says how to get one, not a 401 later.
 */
function clientEnv(paths: QccPaths, url: string, secret?: string): Record<string, string> {
  const given = secret ?? process.env.QCC_KEY;
  if (given !== undefined && given.length > 0) return { ANTHROPIC_BASE_URL: url, ANTHROPIC_AUTH_TOKEN: given };
  const { config } = loadConfig(paths.config);
  if (config.proxy.access_keys.length === 0 && config.client_keys.length > 0) {
    throw new CliError('this qcc needs a key: `qcc claude setup --key NAME` (it asks for the secret `qcc key add` printed), or set QCC_KEY=qcc-…');
  }
  return { ANTHROPIC_BASE_URL: url, ANTHROPIC_AUTH_TOKEN: config.proxy.access_keys[0] ?? PLACEHOLDER_KEY };
}

/** A client key's secret for `setup --key`: given as the option itself, in QCC_KEY, on stdin, or typed (hidden). */
async function secretFor(paths: QccPaths, key: string): Promise<string> {
  let secret: string;
  let name: string | undefined;
  if (key.startsWith(KEY_PREFIX)) secret = key;
  else {
    name = key;
    if (process.env.QCC_KEY) secret = process.env.QCC_KEY;
    else if (!process.stdin.isTTY) secret = readFileSync(0, 'utf8').trim();
    else {
      const { password } = await import('@inquirer/prompts');
      secret = (await password({ message: `the secret of key "${name}" (qcc-…, as \`qcc key add\` printed it):`, mask: '*' })).trim();
    }
  }
  if (!looksLikeClientKey(secret)) throw new CliError(`that is not a qcc key: they start with "${KEY_PREFIX}" and are ${KEY_PREFIX.length + 43} characters long`);
  // Where the key's record is on this machine, the secret is checked against it: a typo is caught here, not as a 401.
  const { config } = loadConfig(paths.config);
  const record = name === undefined ? undefined : config.client_keys.find((k) => k.name === name);
  const pepper = record ? loadPepper(paths.keyPepper) : undefined;
  if (record && pepper && keyHash(secret, pepper) !== record.hash) throw new CliError(`that secret is not key "${name}"'s (a rotated key's old secret?)`);
  return secret;
}

/**
 * `NO_PROXY` and `no_proxy` with qcc's host added to the entries `base` has (each variable keeps its own, or
 * takes the other's when it is unset), so a user's `HTTP(S)_PROXY` never carries Claude Code's traffic to qcc.
 */
export function bypassProxyFor(url: string, base: Readonly<Record<string, string | undefined>>): Record<'NO_PROXY' | 'no_proxy', string> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  const merged = (own: string | undefined, other: string | undefined): string => {
    const entries = (own ?? other ?? '').split(/[\s,]+/).filter(Boolean);
    const covered = entries.some((e) => e === '*' || e.toLowerCase() === host.toLowerCase());
    return (covered ? entries : [...entries, host]).join(',');
  };
  return { NO_PROXY: merged(base.NO_PROXY, base.no_proxy), no_proxy: merged(base.no_proxy, base.NO_PROXY) };
}

function configuredUrl(paths: QccPaths): string {
  const state = inspectRecord(paths.runtime);
  if (state.kind === 'running') return state.record.url;
  const { config } = loadConfig(paths.config);
  const host = config.proxy.host === '0.0.0.0' ? '127.0.0.1' : config.proxy.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.proxy.port}`;
}

interface Backup {
  existed: boolean;
  content: string | null;
}

function readSettings(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (e: unknown) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}; fix it first (qcc did not change it)`);
  }
}

export function registerClaudeCommands(program: Command, paths: () => QccPaths, globalArgs: () => string[]): void {
  const claude = program
    .command('claude')
    .description('use Claude Code through qcc')
    .addHelpText(
      'after',
      '\nExamples:\n  qcc claude -- -p "say hi"      # run claude against the proxy\n  qcc claude setup --dry-run\n' +
        '  qcc claude setup --key alice --url http://qcc.team.lan:7860   # a team member, with their key\n  qcc claude reset',
    );

  claude
    .command('run [args...]', { isDefault: true })
    .description('run `claude` against the proxy (started if needed), touching no file; pass its arguments after --')
    .passThroughOptions()
    .allowUnknownOption()
    .addHelpText('after', '\nExamples:\n  qcc claude\n  qcc claude -- -p "say hi" --output-format json')
    .action(async (args: string[]) => {
      let state = inspectRecord(paths().runtime);
      if (state.kind !== 'running') {
        process.stderr.write('qcc proxy is not running; starting it …\n');
        await startBackground(paths(), {}, globalArgs());
        state = inspectRecord(paths().runtime);
        if (state.kind !== 'running') throw new CliError('the proxy did not start; see `qcc proxy logs`');
      }
      const bin = process.env.QCC_CLAUDE_BIN ?? 'claude';
      const url = state.record.url;
      const env = { ...process.env, ...clientEnv(paths(), url), ...bypassProxyFor(url, process.env) };
      const child = spawn(bin, args, { stdio: 'inherit', env });
      const code = await new Promise<number>((resolve, reject) => {
        child.on('error', (e) => reject(new CliError(`cannot run ${bin}: ${e.message}. Install Claude Code (npm install -g @anthropic-ai/claude-code) or set QCC_CLAUDE_BIN`)));
        child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
      });
      process.exitCode = code;
    });

  claude
    .command('setup')
    .description("write ANTHROPIC_BASE_URL and a key into Claude Code's settings.json (backup kept)")
    .option('--dry-run', 'show the change, write nothing')
    .option('--json', 'machine-readable output')
    .option('--key <name>', 'a client key (qcc key add): its secret is asked for, read from stdin or QCC_KEY, and checked')
    .option('--url <url>', "the qcc to use (a team's shared one); default: this machine's")
    .action(async (opts: { dryRun?: boolean; json?: boolean; key?: string; url?: string }) => {
      const file = claudeSettingsPath();
      const settings = readSettings(file);
      const env = (typeof settings.env === 'object' && settings.env !== null ? settings.env : {}) as Record<string, string>;
      if (opts.url !== undefined && !/^https?:\/\/[^/]+/.test(opts.url)) throw new CliError(`--url is qcc's address, like http://qcc.team.lan:7860, not "${opts.url}"`);
      const url = opts.url?.replace(/\/+$/, '') ?? configuredUrl(paths());
      const secret = opts.key === undefined ? undefined : await secretFor(paths(), opts.key);
      // NO_PROXY from the settings file where it sets one, else from this shell: the user's entries are kept.
      const wanted = { ...clientEnv(paths(), url, secret), ...bypassProxyFor(url, { NO_PROXY: env.NO_PROXY ?? process.env.NO_PROXY, no_proxy: env.no_proxy ?? process.env.no_proxy }) };
      const changes = Object.entries(wanted)
        .filter(([k, v]) => env[k] !== v)
        .map(([k, v]) => ({ key: `env.${k}`, from: env[k] ?? null, to: v }));
      const show = (v: string | null, k: string) => (v === null ? '(unset)' : k.includes('TOKEN') ? maskSecret(v) : v);
      if (opts.json) printJson({ file, dry_run: opts.dryRun === true, changes: changes.map((c) => ({ ...c, from: show(c.from, c.key), to: show(c.to, c.key) })) });
      else if (changes.length === 0) process.stdout.write(`${file} already points Claude Code at qcc\n`);
      else process.stdout.write(`${opts.dryRun ? 'would change' : 'changing'} ${file}:\n${changes.map((c) => `  ${c.key}: ${show(c.from, c.key)} → ${show(c.to, c.key)}`).join('\n')}\n`);
      if (opts.dryRun || changes.length === 0) return;
      const backupFile = `${file}.qcc-backup`;
      if (!existsSync(backupFile)) {
        // Keep the state from before qcc's first change; a second setup must not overwrite it.
        const backup: Backup = existsSync(file) ? { existed: true, content: readFileSync(file, 'utf8') } : { existed: false, content: null };
        writeFileAtomic(backupFile, JSON.stringify(backup), 0o600);
      }
      writeFileAtomic(file, `${JSON.stringify({ ...settings, env: { ...env, ...wanted } }, null, 2)}\n`, 0o600);
      if (!opts.json) process.stdout.write(`backup: ${backupFile} (undo with \`qcc claude reset\`)\n`);
    });

  claude
    .command('reset')
    .description("restore Claude Code's settings.json from before `qcc claude setup`")
    .action(() => {
      const file = claudeSettingsPath();
      const backupFile = `${file}.qcc-backup`;
      if (!existsSync(backupFile)) return void process.stdout.write(`nothing to restore: no ${backupFile}\n`);
      const backup = JSON.parse(readFileSync(backupFile, 'utf8')) as Backup;
      if (backup.existed && backup.content !== null) writeFileAtomic(file, backup.content, 0o600);
      else rmSync(file, { force: true });
      rmSync(backupFile, { force: true });
      process.stdout.write(`restored ${file}\n`);
    });
}
