// What a replica's shared stores cost a request (issue #24), one target at a time: the same build as a lone qcc
// and as a replica (Redis state + PostgreSQL log, bench/qcc-at.mjs's QCC_BENCH_STORES), each without and with a
// client key that has every limit set (so a replica's admissions go through Redis). Targets take turns, one
// running at a time, so Redis and PostgreSQL (on the same two cores) are not competing with three other proxies,
// as they are in bench/ab.mjs. Medians over ROUNDS rounds of ROUND requests at one connection, small JSON.
// Usage: node bench/stores.mjs [ROUNDS=6 ROUND=6000]   (this machine's Redis and PostgreSQL, or QCC_REDIS_URL /
//        QCC_DATABASE_URL)
import { join } from 'node:path';
import { cpuMicros, spawnReady } from './procs.mjs';
import { load, median, messageBody } from './load.mjs';

const here = import.meta.dirname;
const ROUNDS = Number(process.env.ROUNDS ?? 6);
const ROUND = Number(process.env.ROUND ?? 6000);
const KEY = `qcc-${'b'.repeat(43)}`;
const sims = await spawnReady(process.execPath, [join(here, 'sim-process.mjs'), JSON.stringify([{ name: 'fast', behavior: {} }])], /^\{.*\}$/m);
const upstream = JSON.parse(sims.match[0]).fast;
const body = messageBody('bench');
const targets = [
  { name: 'lone qcc', env: {} },
  { name: 'replica (Redis + PostgreSQL)', env: { QCC_BENCH_STORES: '1' } },
  { name: 'lone qcc, keyed', env: { QCC_BENCH_KEY: KEY }, keyed: true },
  { name: 'replica, keyed', env: { QCC_BENCH_STORES: '1', QCC_BENCH_KEY: KEY }, keyed: true },
];
const results = new Map(targets.map((t) => [t.name, { cpu: [], p50: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const t of targets) {
    const q = await spawnReady(process.execPath, ['--initial-old-space-size=64', join(here, 'qcc-at.mjs'), join(here, '../dist'), upstream], /listening on (http:\/\/[\d.]+:\d+)/, { env: { ...process.env, ...t.env } });
    const url = q.match[1];
    const headers = t.keyed ? { 'x-api-key': KEY } : {};
    await load({ url, body, n: ROUND / 2, concurrency: 1, headers }); // warm-up (JIT, leases, connections)
    const c0 = cpuMicros(q.child.pid);
    const r = await load({ url, body, n: ROUND, concurrency: 1, headers });
    const cpu = (cpuMicros(q.child.pid) - c0) / ROUND;
    if (r.failures > 0) throw new Error(`${t.name}: ${r.failures} failures`);
    results.get(t.name).cpu.push(cpu);
    results.get(t.name).p50.push(median(r.latencies));
    q.child.kill('SIGTERM');
    await new Promise((resolve) => q.child.once('exit', resolve));
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}
sims.child.kill();
const base = (name) => results.get(name);
for (const t of targets) {
  const r = results.get(t.name);
  const ref = t.name.startsWith('replica') ? base(t.keyed ? 'lone qcc, keyed' : 'lone qcc') : undefined;
  const diff = ref ? `   vs lone: CPU ${(median(r.cpu) - median(ref.cpu)) >= 0 ? '+' : ''}${(median(r.cpu) - median(ref.cpu)).toFixed(1)} µs, p50 ${(median(r.p50) - median(ref.p50)) >= 0 ? '+' : ''}${(median(r.p50) - median(ref.p50)).toFixed(3)} ms` : '';
  console.log(`${t.name.padEnd(30)} CPU µs/req ${median(r.cpu).toFixed(1).padStart(6)}   p50 ms ${median(r.p50).toFixed(3)}${diff}`);
}
process.exit(0);
