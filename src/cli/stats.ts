import type { Command } from 'commander';
import type { QccPaths } from '../config/paths.js';
import { parseSince, type GroupBy, type GroupSummary, type LogEntry } from '../stats/query.js';
import { openLog } from './log-source.js';
import { CliError, printJson, table } from './output.js';

const ms = (v: number | null) => (v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`);
const pct = (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(1)}%`);
const usd = (v: number) => `$${v.toFixed(4)}`;

function summaryRow(g: GroupSummary): (string | number)[] {
  const t = g.tokens;
  return [
    g.key,
    g.requests,
    pct(g.success_rate),
    g.failovers,
    `${ms(g.latency_ms.p50)}/${ms(g.latency_ms.p95)}/${ms(g.latency_ms.p99)}`,
    `${ms(g.ttfb_ms.p50)}/${ms(g.ttfb_ms.p95)}/${ms(g.ttfb_ms.p99)}`,
    `${ms(g.first_content_ms.p50)}/${ms(g.first_content_ms.p95)}/${ms(g.first_content_ms.p99)}`,
    `${t.input}/${t.output}/${t.cache_creation}/${t.cache_read}`,
    usd(g.cost_usd),
  ];
}

/** `--by key` adds what each key's limits refused (before any upstream): that is the question a team lead asks. */
function keyedRow(g: GroupSummary): (string | number)[] {
  const row = summaryRow(g);
  return [...row.slice(0, 2), g.refused, ...row.slice(2)];
}

/** One attempt in a chain: `a:200`, `a:reset`; a hedge is marked `+`, an attempt that lost the race `(lost)`. */
function attemptText(a: LogEntry['attempts'][number]): string {
  return `${a.hedge ? '+' : ''}${a.endpoint}:${a.lost ? 'lost' : (a.status ?? a.error ?? '?')}`;
}

function hedgeText(e: LogEntry): string {
  const h = e.hedge;
  if (h === null) return '';
  const saved = h.saved_ms !== null ? `, saved ≥${ms(h.saved_ms)}` : '';
  return `  hedge ${h.outcome}${saved}, loser ~${h.loser_tokens} tokens`;
}

function logLine(e: LogEntry): string {
  const chain = e.attempts.map(attemptText).join(' → ');
  const tokens = `${e.tokens.input}in/${e.tokens.output}out`;
  const flag = e.ok ? 'ok ' : 'ERR';
  return `${e.time}  ${flag} ${e.status} ${e.method} ${e.path} ${e.model ?? '-'} ${e.stream ? 'stream' : 'json'}${e.key === null ? '' : ` key:${e.key}`}  ${ms(e.total_ms)} ttfb ${ms(e.ttfb_ms)} first ${ms(e.first_content_ms)}  ${tokens} ${usd(e.cost_usd)}  [${chain || 'no attempt'}]${hedgeText(e)}${e.error ? `  ${e.error}` : ''}${e.health_check ? '  (health check)' : ''}  ${e.request_id}`;
}

export function registerStatsCommands(program: Command, paths: () => QccPaths): void {
  program
    .command('stats')
    .description('requests, success rate, failovers, latency, time to first content, hedges, tokens and cost, from the request log')
    .option('--since <when>', 'a duration (30m, 1h, 24h, 7d) or a date', '24h')
    .option('--by <group>', 'endpoint | model | day | key', 'endpoint')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  qcc stats --since 1h\n  qcc stats --since 7d --by day --json\n  qcc stats --since 30d --by key     # per person: requests, refusals, tokens, cost')
    .action(async (opts: { since: string; by: string; json?: boolean }) => {
      if (!['endpoint', 'model', 'day', 'key', 'none'].includes(opts.by)) throw new CliError(`--by must be endpoint, model, day or key, not "${opts.by}"`);
      let since: number;
      try {
        since = parseSince(opts.since);
      } catch (e: unknown) {
        throw new CliError((e as Error).message);
      }
      const log = await openLog(paths());
      if (!log) {
        if (opts.json) return printJson({ since: new Date(since).toISOString(), by: opts.by, total: null, groups: [], note: 'no request log yet' });
        return void process.stdout.write(`no request log yet (${paths().db}); it starts with the proxy's first request\n`);
      }
      try {
        const s = await log.reader.summary(since, opts.by as GroupBy);
        if (opts.json) return printJson(s);
        process.stdout.write(`since ${s.since}\n\n`);
        const head = [opts.by.toUpperCase(), 'REQUESTS', 'SUCCESS', 'FAILOVERS', 'LATENCY p50/95/99', 'TTFB p50/95/99', 'FIRST CONTENT p50/95/99', 'TOKENS in/out/cw/cr', 'COST'];
        const byKey = opts.by === 'key';
        const rowOf = byKey ? keyedRow : summaryRow;
        process.stdout.write(`${table(byKey ? [...head.slice(0, 2), 'REFUSED', ...head.slice(2)] : head, [...s.groups.map(rowOf), rowOf(s.total)])}\n`);
        const h = s.total.hedges;
        if (h.sent > 0) {
          process.stdout.write(
            `\nhedges: ${h.sent} sent, ${h.won} won (${pct(h.win_rate)}), time saved ≥${ms(h.saved_ms)} in all, ` +
              `abandoned attempts may have cost ${h.loser_tokens} input tokens\n`,
          );
        }
        if (s.health_checks.requests > 0) {
          process.stdout.write(`\nhealth checks (not included above): ${s.health_checks.requests} requests, ${s.health_checks.tokens} tokens, ${usd(s.health_checks.cost_usd)}\n`);
        }
      } finally {
        await log.close();
      }
    });

  program
    .command('logs')
    .description('recent requests with their attempt chains')
    .option('--tail <n>', 'how many', '20')
    .option('--follow', 'keep printing new requests as they come')
    .option('--failed', 'only failed requests')
    .option('--json', 'one JSON object per line')
    .option('--health-checks [which]', 'show health checks too ("include", the default when given) or alone ("only")')
    .option('--key <name>', "only this client key's requests (or access_keys[N])")
    .addHelpText('after', '\nExamples:\n  qcc logs --failed\n  qcc logs --follow --json\n  qcc logs --health-checks only\n  qcc logs --key alice --failed')
    .action(async (opts: { tail: string; follow?: boolean; failed?: boolean; json?: boolean; healthChecks?: string | true; key?: string }) => {
      const healthChecks = opts.healthChecks === undefined ? 'exclude' : opts.healthChecks === true || opts.healthChecks === 'include' ? 'include' : opts.healthChecks;
      if (healthChecks !== 'exclude' && healthChecks !== 'include' && healthChecks !== 'only') throw new CliError(`--health-checks is "include" or "only", not "${healthChecks}"`);
      const limit = Number(opts.tail);
      if (!Number.isInteger(limit) || limit < 0) throw new CliError(`--tail must be a whole number, not "${opts.tail}"`);
      const print = (entries: LogEntry[]) => {
        for (const e of entries) process.stdout.write(`${opts.json ? JSON.stringify(e) : logLine(e)}\n`);
      };
      let log = await openLog(paths());
      if (!log && !opts.follow) return void process.stdout.write(opts.json ? '' : 'no requests logged yet\n');
      let lastId = 0;
      if (log) {
        const entries = await log.reader.recent({ limit, failedOnly: opts.failed ?? false, healthChecks, ...(opts.key !== undefined && { key: opts.key }) });
        print(entries);
        lastId = entries.at(-1)?.id ?? (await log.reader.maxId());
      }
      if (!opts.follow) return log?.close();
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        log ??= await openLog(paths());
        if (!log) continue;
        const entries = await log.reader.recent({ afterId: lastId, limit: 1000, failedOnly: opts.failed ?? false, healthChecks, ...(opts.key !== undefined && { key: opts.key }) });
        print(entries);
        lastId = entries.at(-1)?.id ?? lastId;
      }
    });
}
