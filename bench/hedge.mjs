// Hedged first tokens (#22): client time to first content through qcc when endpoints stall, with hedging on (as
// shipped), off (qcc before hedging), and with every endpoint healthy.
//
//   npm run build && node bench/hedge.mjs [dist]        → prints a Markdown section (bench/RESULTS.md keeps it)
//
// Three simulated endpoints in their own process, each answering a stream after 300 ms (a model's time to first
// token) with 8 deltas 20 ms apart. In the stalled runs, `a` holds every STALL_EVERY-th request for 30 s before its
// status line and `b` every STALL_EVERY-th for 30 s after `message_start`; `c` never stalls. qcc runs from the
// built CLI (`qcc proxy start --foreground`) with its shipped settings; the only change is `proxy.hedge.enabled`
// in the "off" row. REQUESTS streaming requests at CONCURRENCY, after WARMUP requests that let qcc measure the
// endpoints (the adaptive hedge delay needs 20 answers per endpoint and model).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { spawnReady } from './procs.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const DIST = resolve(process.argv[2] ?? join(ROOT, 'dist'));
const REQUESTS = Number(process.env.REQUESTS ?? 400);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const WARMUP = Number(process.env.WARMUP ?? 90);
const STALL_EVERY = Number(process.env.STALL_EVERY ?? 20);
const STALL_MS = 30_000;
const MODEL = 'claude-sonnet-4-5';
const BODY = JSON.stringify({ model: MODEL, max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Write a haiku about latency.' }] });

const answer = { latencyMs: 300, deltas: 8, deltaIntervalMs: 20, usage: { input_tokens: 1800 } };

async function startSims(stalled) {
  const specs = [
    { name: 'a', behavior: { ...answer, ...(stalled && { stall: { every: STALL_EVERY, ms: STALL_MS, phase: 'before-headers' } }) } },
    { name: 'b', behavior: { ...answer, ...(stalled && { stall: { every: STALL_EVERY, ms: STALL_MS, phase: 'after-start' } }) } },
    { name: 'c', behavior: answer },
  ];
  const { child, match } = await spawnReady(process.execPath, [join(ROOT, 'bench/sim-process.mjs'), JSON.stringify(specs)], /^(\{.*\})$/m);
  return { child, urls: JSON.parse(match[1]) };
}

async function startQcc(urls, hedge) {
  const home = mkdtempSync(join(tmpdir(), 'qcc-hedge-bench-'));
  const config = { version: 1, proxy: { hedge }, endpoints: Object.entries(urls).map(([id, base_url]) => ({ id, base_url })) };
  writeFileSync(join(home, 'config.json'), JSON.stringify(config));
  const { child, match } = await spawnReady(process.execPath, [join(DIST, 'cli/main.js'), 'proxy', 'start', '--foreground', '--port', '0'], /listening on (http:\/\/[\d.]+:\d+)/, {
    env: { ...process.env, QCC_HOME: home },
  });
  return { child, url: match[1], home };
}

/** One streaming request: time to first content at the client, and whether the stream was whole. */
async function one(url) {
  const t0 = performance.now();
  const res = await request(`${url}/v1/messages`, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json', 'x-api-key': 'bench' } });
  let first;
  let firstEvent;
  let text = '';
  for await (const chunk of res.body) {
    firstEvent ??= performance.now() - t0;
    text += chunk.toString();
    if (first === undefined && text.includes('event: content_block_delta')) first = performance.now() - t0;
  }
  const ok = res.statusCode === 200 && text.includes('event: message_stop') && !text.includes('event: error');
  return { first: first ?? Number.NaN, firstEvent: firstEvent ?? Number.NaN, ok };
}

async function drive(url, n) {
  const results = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        next++;
        results.push(await one(url));
      }
    }),
  );
  return results;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
const s = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);

function qccStats(home) {
  const r = spawnSync(process.execPath, [join(DIST, 'cli/main.js'), 'stats', '--json', '--by', 'none', '--since', '1h'], { env: { ...process.env, QCC_HOME: home }, encoding: 'utf8' });
  return JSON.parse(r.stdout).total;
}

async function scenario(label, { stalled, hedge }) {
  const sims = await startSims(stalled);
  const qcc = await startQcc(sims.urls, hedge);
  try {
    await drive(qcc.url, WARMUP);
    const started = Date.now();
    const results = await drive(qcc.url, REQUESTS);
    const wall = (Date.now() - started) / 1000;
    // Let the request log flush, then read what qcc recorded of the measured requests and the warm-up.
    await new Promise((r) => setTimeout(r, 600));
    const stats = qccStats(qcc.home);
    const firsts = results.map((r) => r.first).filter(Number.isFinite).sort((a, b) => a - b);
    const events = results.map((r) => r.firstEvent).filter(Number.isFinite).sort((a, b) => a - b);
    return {
      label,
      n: results.length,
      errors: results.filter((r) => !r.ok).length,
      p50: pct(firsts, 50),
      p95: pct(firsts, 95),
      p99: pct(firsts, 99),
      max: firsts.at(-1),
      eventP50: pct(events, 50),
      hedges: stats.hedges,
      requestsLogged: stats.requests,
      wall,
    };
  } finally {
    qcc.child.kill('SIGTERM');
    sims.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
  }
}

const rows = [];
rows.push(await scenario('all healthy, hedging on (as shipped)', { stalled: false, hedge: {} }));
rows.push(await scenario(`a and b stall 1 in ${STALL_EVERY}, hedging on (as shipped)`, { stalled: true, hedge: {} }));
rows.push(await scenario(`a and b stall 1 in ${STALL_EVERY}, hedging off`, { stalled: true, hedge: { enabled: false } }));

const lines = [
  `| run | requests | client errors | first content p50 | p95 | p99 | max | hedges sent / won | hedges' share | abandoned input tokens |`,
  `|---|---|---|---|---|---|---|---|---|---|`,
  ...rows.map(
    (r) =>
      `| ${r.label} | ${r.n} | ${r.errors} | ${s(r.p50)} | ${s(r.p95)} | ${s(r.p99)} | ${s(r.max)} | ${r.hedges.sent} / ${r.hedges.won} | ${((r.hedges.sent / r.requestsLogged) * 100).toFixed(1)} % | ${r.hedges.loser_tokens} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n\n(${REQUESTS} measured + ${WARMUP} warm-up streaming requests per run, ${CONCURRENCY} at a time; hedge counts and shares are over all ${REQUESTS + WARMUP}.)\n`);
process.stdout.write(`first event p50 (healthy run): ${s(rows[0].eventP50)}; dist: ${DIST}\n`);
