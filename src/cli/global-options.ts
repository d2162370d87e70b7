/**
 * Global options (`--config PATH`, `-q/--quiet`) work in any position: `qcc endpoint list --config x` as well as
 * `qcc --config x endpoint list`. Commander reads them only before the subcommand (positional options keep
 * each command's own options its own), so they are moved to the front before it parses. Nothing after `--` is
 * touched, nor anything of `qcc claude`, whose arguments are Claude Code's.
 */

const FLAGS = new Set(['-q', '--quiet']);
const WITH_VALUE = new Set(['--config']);

/** `argv` as process.argv has it (node, script, args…), global options first. */
export function hoistGlobalOptions(argv: readonly string[]): string[] {
  const head = argv.slice(0, 2);
  const globals: string[] = [];
  const rest: string[] = [];
  let sawCommand = false;
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--' || (sawCommand === false && arg === 'claude')) {
      rest.push(...argv.slice(i));
      break;
    }
    if (FLAGS.has(arg)) globals.push(arg);
    else if (WITH_VALUE.has(arg) && i + 1 < argv.length) globals.push(arg, argv[++i]!);
    else if ([...WITH_VALUE].some((name) => arg.startsWith(`${name}=`))) globals.push(arg);
    else {
      if (!arg.startsWith('-')) sawCommand = true;
      rest.push(arg);
    }
  }
  return [...head, ...globals, ...rest];
}
