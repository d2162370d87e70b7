import type { Command } from 'commander';
import { loadConfig, updateConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { KeyLimiter, keyView } from '../keys/limiter.js';
import { addKey, KeyError, parseBudgetPeriod, parseExpiry, removeKey, revokeKey, rotateKey, setKey, type KeyLimitsPatch } from '../keys/manage.js';
import { loadPepper } from '../keys/secret.js';
import type { ClientKeyView } from '../shared/api-types.js';
import { openLog } from './log-source.js';
import { askRunningProxy } from './admin-client.js';
import { CliError, info, printJson, table } from './output.js';

/**
 * `qcc key …`: one key per person, with limits (issue #23). Keys live in the config file as keyed hashes (the
 * running proxy picks a change up at once: the CLI asks it to reload before saying "done"); usage comes from the
 * running proxy, or from the request log when none runs.
 */

interface LimitOptions {
  rpm?: string;
  tpm?: string;
  budget?: string;
  per?: string;
  models?: string;
  endpoints?: string;
  expires?: string;
  note?: string;
}

function limitOptions(cmd: Command, clearing: boolean): Command {
  const clear = clearing ? ' ("none" removes it)' : '';
  return cmd
    .option('--rpm <n>', `requests per minute${clear}`)
    .option('--tpm <n>', `input + output tokens per minute${clear}`)
    .option('--budget <usd>', `US dollars per --per period, e.g. 20 or 20/day${clear}`)
    .option('--per <period>', 'the budget period: day, week or month (UTC)')
    .option('--models <a,b>', `models it may use; "claude-haiku-*" matches a prefix${clear}`)
    .option('--endpoints <id,…>', `endpoints its requests may go to${clear}`)
    .option('--expires <when>', `30d, 12h, 2w or a date (2027-01-31)${clear}`)
    .option('--note <text>', `who it is for, or why${clear}`);
}

const NONE = new Set(['none', '']);

function whole(value: string, flag: string): number | null {
  if (NONE.has(value)) return null;
  const n = Number(value.replace(/[_,]/g, '').replace(/k$/i, '000'));
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`--${flag} must be a whole number above 0 (or "none"), not "${value}"`);
  return n;
}

function names(value: string): string[] | null {
  if (NONE.has(value)) return null;
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  return list.length > 0 ? list : null;
}

/** The limits the options give, over `current` (set) or from nothing (add). */
function limitsFrom(opts: LimitOptions, current: Config['client_keys'][number] | undefined, now: number): KeyLimitsPatch {
  const patch: KeyLimitsPatch = {};
  if (opts.rpm !== undefined) patch.rpm = whole(opts.rpm, 'rpm');
  if (opts.tpm !== undefined) patch.tpm = whole(opts.tpm, 'tpm');
  if (opts.budget !== undefined) {
    if (NONE.has(opts.budget)) patch.budget = null;
    else {
      const [amount, perText] = opts.budget.replace(/^\$/, '').split('/');
      const usd = Number(amount);
      if (!(usd > 0)) throw new CliError(`--budget is US dollars above 0 (20, 20/day), not "${opts.budget}"`);
      const per = parseBudgetPeriod(perText ?? opts.per ?? current?.budget?.per ?? 'month');
      patch.budget = { usd, per };
    }
  } else if (opts.per !== undefined) {
    if (!current?.budget) throw new CliError('--per goes with --budget (the key has no budget to change)');
    patch.budget = { usd: current.budget.usd, per: parseBudgetPeriod(opts.per) };
  }
  if (opts.models !== undefined) patch.models = names(opts.models);
  if (opts.endpoints !== undefined) patch.endpoints = names(opts.endpoints);
  if (opts.expires !== undefined) patch.expires_at = NONE.has(opts.expires) ? null : parseExpiry(opts.expires, now);
  if (opts.note !== undefined) patch.note = NONE.has(opts.note) ? null : opts.note;
  return patch;
}

/** Save a change to the keys, then make the running proxy apply it before this command returns. */
async function changeKeys(paths: QccPaths, fn: (c: Config) => Config): Promise<{ running: boolean }> {
  try {
    updateConfig(paths.config, fn);
  } catch (e: unknown) {
    if (e instanceof KeyError) throw new CliError(e.message);
    throw e;
  }
  const answer = await askRunningProxy<{ reloaded?: boolean; error?: { message: string } }>(paths, 'POST', '/_qcc/reload');
  if (answer && answer.status !== 200) throw new CliError(`saved, but the running proxy did not apply it: ${answer.body.error?.message ?? answer.status}`);
  return { running: answer?.body.reloaded === true };
}

function pepper(paths: QccPaths): Buffer {
  try {
    return loadPepper(paths.keyPepper, process.env, { create: true })!;
  } catch (e: unknown) {
    throw new CliError((e as Error).message);
  }
}

function showSecret(name: string, secret: string, what: string): void {
  process.stdout.write(
    `${what}. Its secret, shown this once (qcc keeps only a hash):\n\n  ${secret}\n\n` +
      `Give it to its owner. In Claude Code:  export ANTHROPIC_AUTH_TOKEN=${secret}\n` +
      `(with ANTHROPIC_BASE_URL pointing at this qcc), or on their machine: qcc claude setup --key ${name}\n`,
  );
}

/** Keys with their usage: from the running proxy (in-flight reservations included), else rebuilt from the log. */
async function keyViews(paths: QccPaths): Promise<{ views: ClientKeyView[]; source: 'proxy' | 'log' }> {
  const live = await askRunningProxy<ClientKeyView[]>(paths, 'GET', '/api/keys');
  if (live && live.status === 200 && Array.isArray(live.body)) return { views: live.body, source: 'proxy' };
  const { config } = loadConfig(paths.config);
  const limiter = new KeyLimiter();
  const now = Date.now();
  const log = await openLog(paths).catch(() => undefined);
  if (log) {
    try {
      limiter.restore(await log.reader.keyUsage(now - 32 * 86_400_000));
    } catch {
      // A log older than client keys has no usage to show.
    } finally {
      await log.close();
    }
  }
  return { views: config.client_keys.map((k) => keyView(k, limiter, now)), source: 'log' };
}

const compact = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n));
const minute = (iso: string) => iso.replace(/:\d{2}(\.\d+)?Z$/, 'Z').replace('T', ' ');

function limitsText(v: ClientKeyView): string {
  const parts: string[] = [];
  if (v.rpm !== null) parts.push(`${v.rpm} rpm`);
  if (v.tpm !== null) parts.push(`${compact(v.tpm)} tpm`);
  if (v.models !== null) parts.push(`models ${v.models.join(' ')}`);
  if (v.endpoints !== null) parts.push(`via ${v.endpoints.join(' ')}`);
  return parts.join(', ') || 'none';
}

function budgetText(v: ClientKeyView): string {
  const b = v.usage.budget;
  if (!b) return '-';
  return `$${b.spent_usd.toFixed(2)} of $${b.limit_usd.toFixed(2)}/${b.per}, resets ${minute(b.resets_at)}`;
}

export function registerKeyCommands(program: Command, paths: () => QccPaths): void {
  const key = program
    .command('key')
    .description("client keys: one per person, with rate limits, token quotas, budgets and allowlists")
    .addHelpText(
      'after',
      '\nExamples:\n  qcc key add alice --rpm 60 --tpm 200k --budget 20/day\n  qcc key add ci --models "claude-haiku-*" --expires 30d --note "nightly CI"\n' +
        '  qcc key list\n  qcc key set alice --budget 50 --per week\n  qcc key rotate alice\n  qcc key revoke alice\n\n' +
        'Once any key exists, every request needs one. proxy.access_keys keep working as unlimited keys.',
    );

  limitOptions(key.command('add <name>').description('create a key; its secret is printed once').option('--json', 'machine-readable output'), false).action(
    async (name: string, opts: LimitOptions & { json?: boolean }) => {
      const p = paths();
      const now = Date.now();
      let secret = '';
      const { running } = await changeKeys(p, (c) => {
        const made = addKey(c, name, limitsFrom(opts, undefined, now), pepper(p), now);
        secret = made.secret;
        return made.config;
      });
      if (opts.json) return printJson({ name, secret, prefix: secret.slice(0, 10) });
      showSecret(name, secret, `key "${name}" created${running ? ' (the running proxy accepts it now)' : ''}`);
    },
  );

  key
    .command('list')
    .description('keys with their limits, usage in the current windows, last use and expiry')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { views, source } = await keyViews(paths());
      if (opts.json) return printJson(views);
      if (views.length === 0) return void process.stdout.write('no client keys: qcc is open to whoever can reach it (on loopback: this machine). Create one with `qcc key add NAME`.\n');
      const rows = views.map((v) => [
        v.name,
        `${v.prefix}…`,
        v.state,
        limitsText(v),
        `${v.usage.requests_last_minute} req, ${compact(v.usage.tokens_last_minute + v.usage.tokens_reserved)} tok`,
        budgetText(v),
        v.usage.last_used === null ? 'never' : minute(v.usage.last_used),
        v.expires_at === null ? 'never' : minute(v.expires_at),
      ]);
      process.stdout.write(`${table(['NAME', 'KEY', 'STATE', 'LIMITS', 'LAST MINUTE', 'BUDGET', 'LAST USED', 'EXPIRES'], rows)}\n`);
      if (source === 'log') process.stdout.write('\n(the proxy is not running: usage read from the request log)\n');
    });

  limitOptions(key.command('set <name>').description("change a key's limits (the secret stays)"), true).action(async (name: string, opts: LimitOptions) => {
    const now = Date.now();
    const patchOf = (c: Config) => limitsFrom(opts, c.client_keys.find((k) => k.name === name), now);
    await changeKeys(paths(), (c) => setKey(c, name, patchOf(c)));
    info(`key "${name}" updated`);
  });

  key
    .command('revoke <name>')
    .description('refuse the key from the next request on (it stays listed, with its history)')
    .action(async (name: string) => {
      const { running } = await changeKeys(paths(), (c) => revokeKey(c, name, Date.now()));
      info(`key "${name}" revoked${running ? '; the running proxy refuses it from now on' : ''}`);
    });

  key
    .command('rotate <name>')
    .description('a new secret for the same key (limits and history kept); the old secret stops working at once')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: { json?: boolean }) => {
      const p = paths();
      let secret = '';
      await changeKeys(p, (c) => {
        const made = rotateKey(c, name, pepper(p), Date.now());
        secret = made.secret;
        return made.config;
      });
      if (opts.json) return printJson({ name, secret, prefix: secret.slice(0, 10) });
      showSecret(name, secret, `key "${name}" rotated: the old secret no longer works`);
    });

  key
    .command('remove <name>')
    .description('delete the key (its requests stay in the log under its name)')
    .action(async (name: string) => {
      await changeKeys(paths(), (c) => removeKey(c, name));
      info(`key "${name}" removed`);
    });
}
