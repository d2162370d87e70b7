import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import type { z } from 'zod';
import { parse as parseTolerant, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { configSchema, defaultConfig, type Config } from './schema.js';
import { migrate } from './migrate.js';
import { writeFileAtomic } from './atomic-write.js';

/** A config problem the user must fix by hand. The message names the file, the JSON path and the fix. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly problems: string[] = [],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig {
  config: Config;
  /** False when there is no file yet; the defaults are returned then. */
  exists: boolean;
  /** What migration changed, if anything (the migrated file was saved and the original kept as `.bak`). */
  migrated: string[];
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out.length === 0 ? String(part) : `.${String(part)}`;
  }
  return out.length === 0 ? '(top level)' : out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} — remove ${issue.keys.length > 1 ? 'them' : 'it'} or check the spelling (fields are snake_case)`;
  }
  if (issue.code === 'invalid_type') {
    return `${where}: expected ${issue.expected} — ${issue.message.replace(/^Invalid input: /, '')}`;
  }
  return `${where}: ${issue.message}`;
}

/** Validate already-parsed JSON (after migration). Throws ConfigError listing every problem. */
export function validateConfig(value: unknown, file: string): Config {
  const parsed = configSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(describeIssue);
  throw new ConfigError(
    `invalid config ${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}\nFix the file (qcc left it unchanged) and try again.`,
    file,
    problems,
  );
}

/**
 * Where a JSON syntax error is, as "line L, column C: what". V8's own message often has no position (Node 20),
 * so jsonc-parser, in strict mode, is asked to locate it; it runs only after JSON.parse has failed.
 */
function locateSyntaxError(text: string): string | undefined {
  const errors: ParseError[] = [];
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return undefined;
  const before = text.slice(0, first.offset);
  const line = before.split('\n').length;
  const column = first.offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${printParseErrorCode(first.error)}`;
}

/** Parse config text; syntax errors carry the line and column. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e: unknown) {
    const detail = locateSyntaxError(text) ?? (e instanceof Error ? e.message : String(e));
    throw new ConfigError(
      `cannot parse ${file}: ${detail}\nFix the JSON syntax; qcc will not overwrite a file it cannot parse.`,
      file,
      [detail],
    );
  }
}

export function loadConfig(file: string): LoadedConfig {
  if (!existsSync(file)) return { config: defaultConfig(), exists: false, migrated: [] };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e: unknown) {
    throw new ConfigError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, file);
  }
  const { value, changes } = migrate(parseConfigText(text, file));
  const config = validateConfig(value, file);
  if (changes.length > 0) {
    // Keep the user's original before the first rewrite, then store the current format.
    const backup = `${file}.bak`;
    if (!existsSync(backup)) copyFileSync(file, backup);
    saveConfig(file, config);
  }
  return { config, exists: true, migrated: changes };
}

export function saveConfig(file: string, config: Config): void {
  // Validate before writing: nothing invalid ever reaches the disk.
  const valid = validateConfig(config, file);
  writeFileAtomic(file, `${JSON.stringify(valid, null, 2)}\n`, 0o600);
}

/**
 * Read-modify-write. The file is parsed and validated first, so a broken file is reported, never replaced.
 */
export function updateConfig(file: string, change: (config: Config) => Config | void): Config {
  const { config } = loadConfig(file);
  const next = change(config) ?? config;
  saveConfig(file, next);
  return next;
}

/**
 * Save a config that came from elsewhere (another replica's, cluster/config-sync.ts) over this file. `keepOld`: the
 * file as it was is kept beside it (`FILE.before-shared`, 0600), since it held a config the user may want back.
 */
export function replaceConfigFile(file: string, next: Config, keepOld: boolean): void {
  if (keepOld && existsSync(file)) writeFileAtomic(`${file}.before-shared`, readFileSync(file), 0o600);
  saveConfig(file, next);
}

/** When the config file last changed (ms since the epoch), or undefined when there is none. */
export function configFileTime(file: string): number | undefined {
  return existsSync(file) ? statSync(file).mtimeMs : undefined;
}
