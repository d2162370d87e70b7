#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { resolvePaths, type QccPaths } from '../config/paths.js';
import { registerConfigCommands } from './config.js';
import { registerEndpointCommands } from './endpoint.js';
import { registerHealthCommands } from './health.js';
import { reportAndExit } from './output.js';
import { registerProxyCommands } from './proxy.js';
import { registerStatsCommands } from './stats.js';
import { registerServiceCommands } from './service.js';
import { registerClaudeCommands } from './claude.js';
import { registerDashboardCommand } from './dashboard.js';
import { registerKeyCommands } from './key.js';
import { VERSION } from './version.js';
import { hoistGlobalOptions } from './global-options.js';

// A reader that went away (`qcc logs | head -1`) ends the command quietly and successfully, as `git log | head -1`
// does: the output was wanted only that far.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const program = new Command();
program
  .name('qcc')
  .description('One stable local address for Claude Code, spread over every Anthropic-compatible endpoint you have.')
  .version(VERSION, '-V, --version')
  .option('--config <path>', 'config file to use (default: $QCC_HOME/config.json, QCC_HOME defaulting to ~/.qcc)')
  .option('-q, --quiet', 'print only what was asked for (errors still go to stderr)')
  .enablePositionalOptions()
  .showHelpAfterError()
  .exitOverride();

const paths = (): QccPaths => resolvePaths(process.env, program.opts<{ config?: string }>().config);
/** Global options a background child must inherit. */
const globalArgs = (): string[] => {
  const c = program.opts<{ config?: string }>().config;
  return c ? ['--config', paths().config] : [];
};

program.hook('preAction', () => {
  if (program.opts<{ quiet?: boolean }>().quiet) process.env.QCC_QUIET = '1';
});

registerProxyCommands(program, paths, globalArgs);
const endpointCommand = registerEndpointCommands(program, paths);
registerHealthCommands(program, endpointCommand, paths);
registerConfigCommands(program, paths);
registerStatsCommands(program, paths);
registerServiceCommands(program, paths);
registerClaudeCommands(program, paths, globalArgs);
registerDashboardCommand(program, paths);
registerKeyCommands(program, paths);

/** Examples for the commands that do not carry their own (every `--help` shows at least one). */
const EXAMPLES: Record<string, string> = {
  'proxy stop': 'qcc proxy stop',
  'proxy restart': 'qcc proxy restart',
  'proxy status': 'qcc proxy status --json | jq .endpoints',
  'endpoint list': 'qcc endpoint list --json',
  'endpoint remove': 'qcc endpoint remove relay',
  'endpoint enable': 'qcc endpoint enable relay',
  'endpoint disable': 'qcc endpoint disable relay',
  'endpoint test': 'qcc endpoint test main --model claude-sonnet-5',
  'config path': 'qcc config path',
  'config show': 'qcc config show --json',
  'config validate': 'qcc config validate ~/backup.json',
  'config browser': 'qcc config browser',
  'service install': 'qcc service install --dry-run',
  'service uninstall': 'qcc service uninstall',
  'claude setup': 'qcc claude setup --dry-run',
  'claude reset': 'qcc claude reset',
};
const addExamples = (cmd: Command, prefix: string) => {
  for (const sub of cmd.commands) {
    const name = `${prefix}${sub.name()}`;
    if (EXAMPLES[name]) sub.addHelpText('after', `\nExample:\n  ${EXAMPLES[name]}`);
    addExamples(sub, `${name} `);
  }
};
addExamples(program, '');
program.addHelpText('after', '\nExamples:\n  qcc proxy start --demo\n  qcc endpoint add main --base-url https://api.anthropic.com --api-key-env ANTHROPIC_API_KEY\n  qcc dashboard');

try {
  await program.parseAsync(hoistGlobalOptions(process.argv));
} catch (e: unknown) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  reportAndExit(e);
}
