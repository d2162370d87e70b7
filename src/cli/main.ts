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
import { VERSION } from './version.js';

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

try {
  await program.parseAsync(process.argv);
} catch (e: unknown) {
  if (e instanceof CommanderError) process.exit(e.exitCode);
  reportAndExit(e);
}
