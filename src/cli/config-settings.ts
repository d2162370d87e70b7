import type { Command } from 'commander';
import { formatPath, loadConfig, updateConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import { configSchema, type Config } from '../config/schema.js';
import { shownProxy } from '../config/proxy-secrets.js';
import { maskSecret } from '../log.js';
import { CliError, info, printJson } from './output.js';

/**
 * `qcc config get|set|unset KEY`: the proxy, health and stats settings and prices by dotted name
 * (`proxy.upstream_proxy`, `health.interval_s`, `pricing.claude-opus-4-8`), validated by the config schema
 * before anything is written. Endpoints have their own commands (`qcc endpoint …`). A running proxy applies
 * the change when it sees the file change.
 */

const SECTIONS = ['proxy', 'health', 'stats', 'pricing'] as const;
type Section = (typeof SECTIONS)[number];

/**
 * `proxy.strategy` → section proxy, path [strategy]; `proxy.hedge.after_ms` → [hedge, after_ms]. Prices are keyed
 * by model names, which may hold dots (`pricing.claude-3.5-sonnet`): there the rest is one field.
 */
function splitKey(key: string): { section: Section; field: string; path: string[] } {
  const dot = key.indexOf('.');
  const section = (dot < 0 ? key : key.slice(0, dot)) as Section;
  const field = dot < 0 ? '' : key.slice(dot + 1);
  const path = section === 'pricing' ? [field] : field.split('.');
  if (!SECTIONS.includes(section) || field === '' || path.some((p) => p === '')) {
    throw new CliError(`"${key}" is not a setting; use SECTION.FIELD with a section of ${SECTIONS.join(', ')} (e.g. proxy.strategy, proxy.hedge.after_ms); endpoints are changed with \`qcc endpoint set\``);
  }
  return { section, field, path };
}

/** The value at `path` under `root`, or undefined. */
function valueAt(root: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = root;
  for (const p of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** The object holding the last field of `path`, made on the way where missing; throws where a value is in the way. */
function parentOf(root: Record<string, unknown>, key: string, path: readonly string[]): Record<string, unknown> {
  let o = root;
  for (const p of path.slice(0, -1)) {
    const next = o[p] ?? (o[p] = {});
    if (typeof next !== 'object' || next === null || Array.isArray(next)) throw new CliError(`"${key}": ${p} is not a group of settings`);
    o = next as Record<string, unknown>;
  }
  return o;
}

/** A value as typed: JSON when it parses (numbers, booleans, lists), else the text itself. */
function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** What may be shown of a setting: access keys and proxy passwords masked. */
function shown(section: Section, field: string, value: unknown): unknown {
  if (section === 'proxy' && field === 'access_keys' && Array.isArray(value)) return value.map((k) => maskSecret(String(k)));
  if (section === 'proxy' && field === 'upstream_proxy' && typeof value === 'string') return shownProxy(value);
  return value;
}

function render(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function change(file: string, key: string, apply: (parent: Record<string, unknown>, field: string) => void): Config {
  const { section, path } = splitKey(key);
  return updateConfig(file, (c) => {
    const next = structuredClone(c) as unknown as Record<Section, Record<string, unknown>>;
    apply(parentOf(next[section], key, path), path.at(-1)!);
    const parsed = configSchema.safeParse(next);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
      throw new CliError(`not changed: ${problems.join('; ')}`);
    }
    return parsed.data;
  });
}

export function registerSettingsCommands(config: Command, paths: () => QccPaths): void {
  config
    .command('get <key>')
    .description('print one setting (secrets masked), e.g. proxy.strategy')
    .option('--json', 'print the value as JSON')
    .action((key: string, opts: { json?: boolean }) => {
      const { section, field, path } = splitKey(key);
      const { config: c } = loadConfig(paths().config);
      const value = shown(section, field, valueAt(c[section] as Record<string, unknown>, path));
      if (opts.json) return printJson(value ?? null);
      process.stdout.write(`${value === undefined ? '(not set)' : render(value)}\n`);
    });

  config
    .command('set <key> <value>')
    .description('change one setting, validated by the schema; a running proxy applies it at once')
    .addHelpText(
      'after',
      '\nThe value is read as JSON when it parses (numbers, true/false, ["a","b"]), else as text.\n\nExamples:\n' +
        '  qcc config set proxy.strategy fastest\n  qcc config set proxy.upstream_proxy socks5h://127.0.0.1:1080\n' +
        '  qcc config set proxy.upstream_proxy direct      # ignore HTTPS_PROXY and friends\n  qcc config set health.interval_s 120\n' +
        '  qcc config set proxy.hedge.after_ms 4000       # hedge a stream with no first token after 4 s (default: auto)\n' +
        '  qcc config set proxy.hedge.enabled false',
    )
    .action((key: string, raw: string) => {
      let previous: unknown;
      const next = change(paths().config, key, (section, field) => {
        previous = section[field];
        section[field] = parseValue(raw);
      });
      const { section, field, path } = splitKey(key);
      const value = valueAt(next[section] as Record<string, unknown>, path);
      if (JSON.stringify(previous) === JSON.stringify(value)) return info(`${key} is already ${render(shown(section, field, value))}\n`);
      info(`${key} = ${render(shown(section, field, value))}\n`);
    });

  config
    .command('unset <key>')
    .description('return one setting to its default')
    .addHelpText('after', '\nExample:\n  qcc config unset proxy.upstream_proxy')
    .action((key: string) => {
      const next = change(paths().config, key, (section, field) => {
        delete section[field];
      });
      const { section, field, path } = splitKey(key);
      const value = valueAt(next[section] as Record<string, unknown>, path);
      info(`${key} ${value === undefined ? 'unset' : `back to its default, ${render(shown(section, field, value))}`}\n`);
    });
}
