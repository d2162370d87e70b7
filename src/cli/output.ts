import { ConfigError } from '../config/load.js';
import { describeError } from '../errors.js';

/** A failure the user can act on: printed as one clear message, exit code 1 (2 for an invalid config). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A confirmation or progress line: silenced by `--quiet` (which main.ts turns into QCC_QUIET=1). */
export function info(line: string): void {
  if (process.env.QCC_QUIET !== '1') process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns; no colour, so it reads the same in a pipe, a log or with NO_COLOR. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function reportAndExit(e: unknown): never {
  if (e instanceof ConfigError) {
    process.stderr.write(`qcc: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof CliError) {
    process.stderr.write(`qcc: ${e.message}\n`);
    process.exit(e.exitCode);
  }
  process.stderr.write(`qcc: ${describeError(e)}\n`);
  process.exit(1);
}
