// A/B of proxies or qcc builds, all running at once, rounds interleaved in rotation; medians of CPU per request
// (from /proc) and p50 latency at one connection, small JSON and 50-delta SSE.
// Usage: node bench/ab.mjs TARGET...   where TARGET is a built qcc dist/ directory (e.g. a copy of an older build)
//        or a script that takes the upstream URL and prints "listening on http://…" (bench/bare-passthrough.mjs).
//        ROUND=4000 ROUNDS=8 by default. List a target twice to see how much two processes of one build differ.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpuMicros, spawnReady } from './procs.mjs';
import { load, median, messageBody } from './load.mjs';

const ROUND = Number(process.env.ROUND ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const here = import.meta.dirname;
const targets = process.argv.slice(2);
if (targets.length === 0) {
  process.stderr.write('usage: node bench/ab.mjs TARGET... (a qcc dist/ directory or a proxy script)\n');
  process.exit(2);
}

const sims = await spawnReady(process.execPath, [join(here, 'sim-process.mjs'), JSON.stringify([{ name: 'fast', behavior: { deltas: 50 } }])], /^\{.*\}$/m);
const upstream = JSON.parse(sims.match[0]).fast;
const procs = [];
for (const t of targets) {
  const isBuild = existsSync(t) && statSync(t).isDirectory();
  const args = isBuild ? [join(here, 'qcc-at.mjs'), resolve(t), upstream] : [resolve(t), upstream];
  procs.push({ name: t, p: await spawnReady(process.execPath, args, /listening on (http:\/\/[\d.]+:\d+)/) });
}

for (const stream of [false, true]) {
  const body = messageBody('bench', { stream });
  for (const x of procs) await load({ url: x.p.match[1], body, n: 4000, concurrency: 8 }); // JIT warm-up
  const cpu = procs.map(() => []);
  const p50 = procs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < procs.length; i++) {
      const k = (i + r) % procs.length;
      const { p } = procs[k];
      const before = cpuMicros(p.child.pid);
      await load({ url: p.match[1], body, n: ROUND, concurrency: 8 });
      cpu[k].push((cpuMicros(p.child.pid) - before) / ROUND);
      p50[k].push(median((await load({ url: p.match[1], body, n: 300, concurrency: 1 })).latencies));
    }
  }
  procs.forEach((x, k) => console.log(`${stream ? 'SSE ' : 'JSON'}  ${x.name.padEnd(40)} CPU µs/req ${median(cpu[k]).toFixed(0).padStart(4)}   p50 ms ${median(p50[k]).toFixed(3)}`));
}
for (const x of procs) x.p.child.kill('SIGKILL');
sims.child.kill();
process.exit(0);
