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

function splitKey(key: string): { section: Section; field: string } {
  const dot = key.indexOf('.');
  const section = (dot < 0 ? key : key.slice(0, dot)) as Section;
  const field = dot < 0 ? '' : key.slice(dot + 1);
  if (!SECTIONS.includes(section) || field === '' || field.includes('.')) {
    throw new CliError(`"${key}" is not a setting; use SECTION.FIELD with a section of ${SECTIONS.join(', ')} (e.g. proxy.strategy); endpoints are changed with \`qcc endpoint set\``);
  }
  return { section, field };
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

function change(file: string, key: string, apply: (sectionValue: Record<string, unknown>, field: string) => void): Config {
  const { section, field } = splitKey(key);
  return updateConfig(file, (c) => {
    const next = structuredClone(c) as unknown as Record<Section, Record<string, unknown>>;
    apply(next[section], field);
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
      const { section, field } = splitKey(key);
      const { config: c } = loadConfig(paths().config);
      const value = shown(section, field, (c[section] as Record<string, unknown>)[field]);
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
        '  qcc config set proxy.upstream_proxy direct      # ignore HTTPS_PROXY and friends\n  qcc config set health.interval_s 120',
    )
    .action((key: string, raw: string) => {
      let previous: unknown;
      const next = change(paths().config, key, (section, field) => {
        previous = section[field];
        section[field] = parseValue(raw);
      });
      const { section, field } = splitKey(key);
      const value = (next[section] as Record<string, unknown>)[field];
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
      const { section, field } = splitKey(key);
      const value = (next[section] as Record<string, unknown>)[field];
      info(`${key} ${value === undefined ? 'unset' : `back to its default, ${render(shown(section, field, value))}`}\n`);
    });
}
