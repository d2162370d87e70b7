import type { Command } from 'commander';
import { UpstreamClient } from '../upstream/client.js';
import { loadConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import { endpointKeys, shownCredential, withOneCredential, type Config, type EndpointConfig } from '../config/schema.js';
import { EndpointRuntime, type Routing } from '../endpoints/endpoint.js';
import { maskSecret } from '../log.js';
import type { ProxyEnvironment } from '../endpoints/route.js';
import type { CheckResult } from '../health/check.js';
import { HealthMonitor } from '../health/monitor.js';
import { SCORE_FORMULA } from '../health/score.js';
import { CliError, printJson, table } from './output.js';

export interface HealthReport {
  formula: string;
  ok: boolean;
  /** `keys`: for an endpoint with a pool of keys, each key's verdict (masked); the endpoint is ok when one is. */
  endpoints: { id: string; enabled: boolean; ok: boolean; score: number | null; keys?: { key: string; ok: boolean }[] }[];
  /** One row per endpoint and model; a pool's rows are per key, their `endpoint` reading `id key …abcd`. */
  results: (CheckResult & { score: number | null })[];
}

/** What is checked: an endpoint, or each key of its pool as an endpoint of one key (so one bad key is seen as such). */
interface Target {
  parent: EndpointConfig;
  runtime: EndpointRuntime;
  key?: string;
}

function targetsOf(e: EndpointConfig, routing: Routing): Target[] {
  const keys = endpointKeys(e);
  if (keys.length <= 1) return [{ parent: e, runtime: new EndpointRuntime(e, routing) }];
  return keys.map((k) => {
    const shown = shownCredential(k, maskSecret);
    return { parent: e, key: shown, runtime: new EndpointRuntime({ ...withOneCredential(e, k), id: `${e.id} key ${shown}` }, routing) };
  });
}

const noTimers = { setTimeout: () => undefined, clearTimeout: () => undefined };

/** Run checks now, from the config alone: no running proxy is needed (or used). */
export async function runChecks(config: Config, opts: { endpoint?: string; model?: string; quiet?: boolean; env?: ProxyEnvironment }): Promise<HealthReport> {
  const selected = config.endpoints.filter((e) => (opts.endpoint ? e.id === opts.endpoint : e.enabled));
  if (opts.endpoint && selected.length === 0) throw new CliError(`no endpoint "${opts.endpoint}"; see \`qcc endpoint list\``);
  if (selected.length === 0) throw new CliError('no enabled endpoints to check; add one with `qcc endpoint add`');
  // The same route as the running proxy would take: the endpoint's proxy, the config's default, the environment.
  const routing: Routing = { defaultProxy: config.proxy.upstream_proxy, env: opts.env ?? process.env };
  const targets = selected.flatMap((e) => targetsOf(e, routing));
  const runtimes = targets.map((t) => t.runtime);
  const dispatcher = new UpstreamClient({ connectTimeoutMs: 10_000 });
  const monitor = new HealthMonitor({ dispatcher, endpoints: () => runtimes, settings: () => config.health, now: Date.now, timers: noTimers, random: Math.random });
  const progress = (line: string) => {
    if (!opts.quiet) process.stderr.write(line);
  };
  try {
    const all = await Promise.all(
      runtimes.map(async (r) => {
        const models = opts.model ? [opts.model] : monitor.modelsFor(r);
        progress(`checking ${r.id} (${models.join(', ')}) …\n`);
        const results = await monitor.checkEndpoint(r, models);
        for (const c of results) progress(`  ${c.ok ? 'ok  ' : 'FAIL'} ${r.id} ${c.model} ${Math.round(c.total_ms)}ms${c.error ? ` — ${c.error}` : ''}\n`);
        return { runtime: r, results };
      }),
    );
    const checked = all.map((a, i) => ({ ...a, target: targets[i]! }));
    const endpoints = selected.map((e) => {
      const mine = checked.filter((c) => c.target.parent === e);
      const keys = mine.flatMap((c) => (c.target.key === undefined ? [] : [{ key: c.target.key, ok: c.results.some((r) => r.ok) }]));
      const scores = mine.map((c) => monitor.endpointScore(c.runtime.id)).filter((v): v is number => v !== undefined);
      return {
        id: e.id,
        enabled: e.enabled,
        ok: mine.some((c) => c.results.some((r) => r.ok)),
        // A pool's score is its best key's: the endpoint serves while one key works.
        score: scores.length > 0 ? Math.max(...scores) : null,
        ...(keys.length > 0 && { keys }),
      };
    });
    const results = all.flatMap(({ runtime, results }) =>
      results.map((c) => ({ ...c, score: monitor.modelHealth(runtime).find((m) => m.model === c.model)?.score ?? null })),
    );
    return { formula: SCORE_FORMULA, ok: endpoints.every((e) => e.ok || !e.enabled), endpoints, results };
  } finally {
    await dispatcher.close();
  }
}

export function printReport(report: HealthReport): void {
  const fmt = (v: number | null, unit: string) => (v === null ? '-' : `${Math.round(v)}${unit}`);
  const rows = report.results.map((r) => [r.endpoint, r.model, r.ok ? 'ok' : 'FAIL', fmt(r.ttft_ms, 'ms'), fmt(r.total_ms, 'ms'), fmt(r.tokens_per_s, ''), r.score ?? '-', r.error ?? '']);
  process.stdout.write(`${table(['ENDPOINT', 'MODEL', 'OK', 'TTFT', 'TOTAL', 'TOK/S', 'SCORE', 'ERROR'], rows)}\n`);
}

async function healthAction(paths: QccPaths, opts: { json?: boolean; endpoint?: string; model?: string }): Promise<void> {
  const { config } = loadConfig(paths.config);
  const report = await runChecks(config, { ...opts, quiet: opts.json === true });
  if (opts.json) printJson(report);
  else printReport(report);
  if (!report.ok) process.exitCode = 1;
}

export function registerHealthCommands(program: Command, endpointCommand: Command, paths: () => QccPaths): void {
  program
    .command('health')
    .description('check endpoints now with a real, tiny conversation (no running proxy needed)')
    .option('--json', 'machine-readable output, with the score formula')
    .option('--endpoint <id>', 'only this endpoint')
    .option('--model <model>', 'only this model')
    .addHelpText('after', '\nExit code 1 when an enabled endpoint fails every model it was checked with.\n\nExamples:\n  qcc health\n  qcc health --endpoint main --model claude-sonnet-5 --json')
    .action((opts: { json?: boolean; endpoint?: string; model?: string }) => healthAction(paths(), opts));

  endpointCommand
    .command('test <id>')
    .description('run the health check against one endpoint now')
    .option('--json', 'machine-readable output')
    .option('--model <model>', 'only this model')
    .action((id: string, opts: { json?: boolean; model?: string }) => healthAction(paths(), { ...opts, endpoint: id }));
}
