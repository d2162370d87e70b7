import type { Command } from 'commander';
import type { QccPaths } from '../config/paths.js';

/**
 * `qcc config browser`. The interactive session (browser-session.ts, on @inquirer/prompts) is loaded when the
 * command runs: the proxy process imports the CLI too, and the prompt library is ~1.3 MB of heap it never uses.
 */
export function registerBrowserCommand(configCommand: Command, paths: () => QccPaths): void {
  configCommand
    .command('browser')
    .description('browse, add (from presets), edit, enable/disable, test and delete endpoints interactively')
    .action(async () => {
      try {
        const { runBrowser } = await import('./browser-session.js');
        await runBrowser(paths());
      } catch (e: unknown) {
        // Ctrl-C inside a prompt: leave quietly, everything chosen so far is already saved.
        if (e instanceof Error && e.name === 'ExitPromptError') return;
        throw e;
      }
    });
}
