import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../config/atomic-write.js';
import { loadConfig as load, saveConfig } from '../config/load.js';
import { exportConfig, planImport, stripExportMarker, type ImportMode } from '../config/transfer.js';
import { CliError } from './output.js';
import { registerBrowserCommand } from './browser.js';
import { registerSettingsCommands } from './config-settings.js';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, parseConfigText, validateConfig } from '../config/load.js';
import { migrate } from '../config/migrate.js';
import type { QccPaths } from '../config/paths.js';
import { maskSecret } from '../log.js';
import { maskedEndpoint } from './endpoint.js';
import { shownProxy } from '../config/proxy-secrets.js';
import { printJson } from './output.js';

export function registerConfigCommands(program: Command, paths: () => QccPaths): void {
  const config = program
    .command('config')
    .description('inspect, check, export, import and browse the configuration')
    .addHelpText('after', '\nExamples:\n  qcc config show\n  qcc config set proxy.strategy fastest\n  qcc config validate\n  qcc config browser');
  registerBrowserCommand(config, paths);
  registerSettingsCommands(config, paths);

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
        proxy: { ...c.proxy, access_keys: c.proxy.access_keys.map(maskSecret), upstream_proxy: shownProxy(c.proxy.upstream_proxy) },
        endpoints: c.endpoints.map(maskedEndpoint),
        // A key's hash identifies it; `qcc key list` is where keys are read.
        client_keys: c.client_keys.map(({ hash: _hash, ...k }) => k),
      };
      if (!opts.json && !exists) process.stdout.write(`# no config file at ${paths().config} yet; these are the defaults\n`);
      printJson(masked);
    });

  config
    .command('export [file]')
    .description('write the configuration to FILE (or stdout); keys are left out unless --with-secrets')
    .option('--with-secrets', 'include API keys and access keys (the file is written 0600)')
    .addHelpText('after', '\nExamples:\n  qcc config export backup.json\n  qcc config export --with-secrets > full.json')
    .action((file: string | undefined, opts: { withSecrets?: boolean }) => {
      const { config: c } = load(paths().config);
      const text = `${JSON.stringify(exportConfig(c, opts.withSecrets === true), null, 2)}\n`;
      if (file) writeFileAtomic(resolve(file), text, 0o600);
      else process.stdout.write(text);
      const note = opts.withSecrets ? 'keys included — keep this file private' : 'keys left out (use --with-secrets to include them)';
      process.stderr.write(`exported ${c.endpoints.length} endpoint(s)${file ? ` to ${resolve(file)}` : ''}; ${note}\n`);
    });

  config
    .command('import <file>')
    .description('import a config, legacy config or export; merges by endpoint id unless --replace')
    .option('--merge', 'add and update endpoints, keep the others (default)')
    .option('--replace', 'make the endpoint list exactly the imported one')
    .option('--dry-run', 'print what would change and change nothing')
    .option('--json', 'print the plan as JSON')
    .addHelpText('after', '\nExisting keys are never lost: an imported endpoint without a key keeps the one it has.\n\nExample:\n  qcc config import backup.json --dry-run')
    .action((file: string, opts: { merge?: boolean; replace?: boolean; dryRun?: boolean; json?: boolean }) => {
      if (opts.merge && opts.replace) throw new CliError('choose --merge or --replace, not both');
      const mode: ImportMode = opts.replace ? 'replace' : 'merge';
      const source = resolve(file);
      const raw = parseConfigText(readFileSync(source, 'utf8'), source);
      const { value: unmarked, meta } = stripExportMarker(raw);
      const { value } = migrate(unmarked);
      const incoming = validateConfig(value, source);
      const rawObj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
      const rawProxy = (typeof rawObj.proxy === 'object' && rawObj.proxy !== null ? rawObj.proxy : {}) as Record<string, unknown>;
      const { config: current } = load(paths().config);
      const plan = planImport(current, incoming, mode, meta?.secrets !== 'omitted', { sections: Object.keys(rawObj), proxyFields: Object.keys(rawProxy) });
      const summary = { mode, dry_run: opts.dryRun === true, added: plan.added, updated: plan.updated, removed: plan.removed, unchanged: plan.unchanged, kept_keys: plan.keptKeys, keyless: plan.keyless, proxy_changed: plan.proxyChanged };
      if (opts.json) printJson(summary);
      else {
        const line = (label: string, ids: string[]) => (ids.length ? `  ${label}: ${ids.join(', ')}\n` : '');
        process.stdout.write(
          `${opts.dryRun ? 'would import' : 'importing'} ${source} (${mode}):\n` +
            line('add', plan.added) + line('update', plan.updated) + line('remove', plan.removed) + line('unchanged', plan.unchanged) +
            line('keeping existing keys for', plan.keptKeys) +
            (plan.proxyChanged ? '  proxy settings change\n' : '') +
            (plan.keyless.length ? `  note: no key for ${plan.keyless.join(', ')}: client credentials will be passed through; add one with \`qcc endpoint set ID --api-key-env VAR\`\n` : ''),
        );
      }
      if (!opts.dryRun) saveConfig(paths().config, plan.result);
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
