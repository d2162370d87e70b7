import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, parseConfigText, validateConfig } from '../config/load.js';
import { migrate } from '../config/migrate.js';
import type { QccPaths } from '../config/paths.js';
import { maskSecret } from '../log.js';
import { maskedEndpoint } from './endpoint.js';
import { printJson } from './output.js';

export function registerConfigCommands(program: Command, paths: () => QccPaths): void {
  const config = program.command('config').description('inspect and check the configuration');

  config
    .command('path')
    .description('print the config file\'s path')
    .action(() => void process.stdout.write(`${paths().config}\n`));

  config
    .command('show')
    .description('print the configuration, keys masked')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const { config: c, exists } = loadConfig(paths().config);
      const masked = {
        ...c,
        proxy: { ...c.proxy, access_keys: c.proxy.access_keys.map(maskSecret) },
        endpoints: c.endpoints.map(maskedEndpoint),
      };
      if (!opts.json && !exists) process.stdout.write(`# no config file at ${paths().config} yet; these are the defaults\n`);
      printJson(masked);
    });

  config
    .command('validate [file]')
    .description('check a config file (default: the current one) without changing it')
    .action((file: string | undefined) => {
      const target = file ? resolve(file) : paths().config;
      const { value, changes } = migrate(parseConfigText(readFileSync(target, 'utf8'), target));
      const c = validateConfig(value, target);
      const note = changes.length > 0 ? ` (${changes.join('; ')})` : '';
      process.stdout.write(`${target}: valid, ${c.endpoints.length} endpoint(s)${note}\n`);
    });
}
