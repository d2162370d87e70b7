// What a replica's shared stores cost a request (issue #24): the same build as a lone qcc and as a replica (Redis
// state + PostgreSQL log, bench/qcc-at.mjs's QCC_BENCH_STORES), each without and with a client key that has every
// limit set (so a replica's admissions go through Redis). One target runs at a time, started anew each round.
// Medians over ROUNDS rounds of ROUND small JSON requests, at each concurrency of CONCURRENCY (one connection, and
// eight as in bench/ab.mjs: concurrent requests of one key are what a shared limiter must not multiply round trips
// for). Each replica's difference from the lone qcc is the median of per-round differences (the targets of one
// round ran back to back, so a drift of the machine between rounds cancels), with the rounds' range.
// Usage: node bench/stores.mjs [ROUNDS=6 ROUND=6000 CONCURRENCY=1,8 STREAM=1 KEYED=1 SPLIT=1]   (this machine's
//        Redis and PostgreSQL, or QCC_REDIS_URL / QCC_DATABASE_URL). STREAM=1 streams (50 deltas); KEYED=1 runs the
//        keyed pair only; SPLIT=1 adds the keyed replica with one store at a time.
import { join } from 'node:path';
import { cpuMicros, spawnReady } from './procs.mjs';
import { load, median, messageBody } from './load.mjs';

const here = import.meta.dirname;
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const ROUND = Number(process.env.ROUND ?? 6000);
const CONCURRENCY = (process.env.CONCURRENCY ?? '1,8').split(',').map(Number);
const KEY = `qcc-${'b'.repeat(43)}`;
// STREAM=1: SSE answers of 50 deltas (bench/ab.mjs's "sse") instead of small JSON.
const STREAM = process.env.STREAM === '1';
const sims = await spawnReady(process.execPath, [join(here, 'sim-process.mjs'), JSON.stringify([{ name: 'fast', behavior: STREAM ? { deltas: 50 } : {} }])], /^\{.*\}$/m);
const upstream = JSON.parse(sims.match[0]).fast;
const body = messageBody('bench', STREAM ? { stream: true } : {});
const allTargets = [
  { name: 'lone qcc', env: {} },
  { name: 'replica (Redis + PostgreSQL)', env: { QCC_BENCH_STORES: '1' } },
  { name: 'lone qcc, keyed', env: { QCC_BENCH_KEY: KEY }, keyed: true },
  { name: 'replica, keyed', env: { QCC_BENCH_STORES: '1', QCC_BENCH_KEY: KEY }, keyed: true },
  ...(process.env.SPLIT === '1'
    ? [
        { name: 'replica, keyed, Redis only', env: { QCC_BENCH_STORES: 'redis', QCC_BENCH_KEY: KEY }, keyed: true },
        { name: 'replica, keyed, PG only', env: { QCC_BENCH_STORES: 'postgres', QCC_BENCH_KEY: KEY }, keyed: true },
      ]
    : []),
];
// KEYED=1: only the keyed pair (half the time).
const targets = process.env.KEYED === '1' ? allTargets.filter((t) => t.keyed) : allTargets;
const signed = (x, digits) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
for (const concurrency of CONCURRENCY) {
  const results = new Map(targets.map((t) => [t.name, { cpu: [], p50: [] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      const q = await spawnReady(process.execPath, ['--initial-old-space-size=64', join(here, 'qcc-at.mjs'), join(here, '../dist'), upstream], /listening on (http:\/\/[\d.]+:\d+)/, { env: { ...process.env, ...t.env } });
      const url = q.match[1];
      const headers = t.keyed ? { 'x-api-key': KEY } : {};
      await load({ url, body, n: ROUND / 2, concurrency, headers }); // warm-up (JIT, leases, connections)
      const c0 = cpuMicros(q.child.pid);
      const r = await load({ url, body, n: ROUND, concurrency, headers });
      const cpu = (cpuMicros(q.child.pid) - c0) / ROUND;
      if (r.failures > 0) throw new Error(`${t.name}: ${r.failures} failures`);
      // p50 at one connection in either case: the latency one request sees, not a queue's.
      const p50 = concurrency === 1 ? median(r.latencies) : median((await load({ url, body, n: 500, concurrency: 1, headers })).latencies);
      results.get(t.name).cpu.push(cpu);
      results.get(t.name).p50.push(p50);
      q.child.kill('SIGTERM');
      await new Promise((resolve) => q.child.once('exit', resolve));
    }
    process.stderr.write(`concurrency ${concurrency}: round ${round + 1}/${ROUNDS}\n`);
  }
  console.log(`concurrency ${concurrency}`);
  for (const t of targets) {
    const r = results.get(t.name);
    const ref = t.name.startsWith('replica') ? results.get(t.keyed ? 'lone qcc, keyed' : 'lone qcc') : undefined;
    const deltas = ref ? r.cpu.map((c, i) => c - ref.cpu[i]).sort((x, y) => x - y) : [];
    const diff = ref
      ? `   vs lone: CPU ${signed(median(deltas), 1)} µs (rounds ${signed(deltas[0], 0)}…${signed(deltas.at(-1), 0)}), p50 ${signed(median(r.p50) - median(ref.p50), 3)} ms`
      : '';
    console.log(`  ${t.name.padEnd(30)} CPU µs/req ${median(r.cpu).toFixed(1).padStart(6)}   p50 ms ${median(r.p50).toFixed(3)}${diff}`);
  }
}
sims.child.kill();
process.exit(0);
