import { spawn } from 'node:child_process';
import { platform } from 'node:os';
import type { Command } from 'commander';
import type { QccPaths } from '../config/paths.js';
import { ensureAdminToken } from './admin-token.js';
import { CliError } from './output.js';
import { inspectRecord } from './runtime-record.js';

/**
 * `qcc dashboard`: the dashboard's URL with the admin token in its fragment (a fragment never reaches a server
 * log or a Referer header), opened in a browser when one is available.
 */
export function dashboardUrl(baseUrl: string, token: string): string {
  return `${baseUrl}/dashboard/#token=${encodeURIComponent(token)}`;
}

function openBrowser(url: string): boolean {
  const cmd = platform() === 'darwin' ? 'open' : platform() === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export function registerDashboardCommand(program: Command, paths: () => QccPaths): void {
  program
    .command('dashboard')
    .description('print the dashboard URL (with its admin token) and open it in a browser')
    .option('--no-open', 'only print the URL')
    .addHelpText('after', '\nExample:\n  qcc dashboard --no-open')
    .action((opts: { open: boolean }) => {
      const state = inspectRecord(paths().runtime);
      if (state.kind !== 'running') throw new CliError('qcc proxy is not running; start it with `qcc proxy start`');
      const url = dashboardUrl(state.record.url, ensureAdminToken(paths().adminToken));
      process.stdout.write(`${url}\n`);
      if (opts.open && (process.env.DISPLAY || platform() === 'darwin' || platform() === 'win32')) openBrowser(url);
    });
}
