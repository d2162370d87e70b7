// One process, followed over time: CPU per request (and RSS) for each of R rounds of one scenario on a fresh
// target. Shows how long a build takes to settle and whether it settles into a regime of full collections (the
// large-body rows are the ones that move; bench/NOTES.md, changes 12 and 18).
// Usage: node bench/rounds.mjs TARGET [json|sse|big|cc]   TARGET: a built dist/ directory or a proxy script.
//        R=16 rounds of N requests (400 for big/cc at concurrency 4, 4000 for json/sse at concurrency 8).
//        HEADERS=api: the simulator answers with the real API's headers too (bench/api-headers.mjs).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuMicros, rssBytes, spawnReady } from './procs.mjs';
import { claudeCodeTurns, load, messageBody } from './load.mjs';
import { simHeaders } from './api-headers.mjs';

const here = import.meta.dirname;
const [target, scenario = 'big'] = process.argv.slice(2);
if (!target) {
  process.stderr.write('usage: node bench/rounds.mjs TARGET [json|sse|big|cc]\n');
  process.exit(2);
}
const large = scenario === 'big' || scenario === 'cc';
const N = Number(process.env.N ?? (large ? 400 : 4000));
const R = Number(process.env.R ?? 16);
const body =
  scenario === 'cc' ? claudeCodeTurns(JSON.parse(readFileSync(join(here, '../test/fixtures/claude-code-2.1.197-messages-body.json'), 'utf8')), 'bench')
  : scenario === 'big' ? messageBody('bench', { padBytes: 256 * 1024 })
  : messageBody('bench', { stream: scenario === 'sse' });

const sims = await spawnReady(process.execPath, [join(here, 'sim-process.mjs'), JSON.stringify([{ name: 'fast', behavior: { deltas: 50, ...simHeaders() } }])], /^\{.*\}$/m);
const upstream = JSON.parse(sims.match[0]).fast;
const isBuild = existsSync(target) && statSync(target).isDirectory();
const shipped = isBuild && existsSync(join(target, 'cli/node-flags.js')) ? (await import(pathToFileURL(resolve(target, 'cli/node-flags.js')).href)).PROXY_NODE_FLAGS : [];
const args = [...shipped, ...(isBuild ? [join(here, 'qcc-at.mjs'), resolve(target), upstream] : [resolve(target), upstream])];
const p = await spawnReady(process.execPath, args, /listening on (http:\/\/[\d.]+:\d+)/);
const rounds = [];
for (let r = 0; r < R; r++) {
  const before = cpuMicros(p.child.pid);
  await load({ url: p.match[1], body, n: N, concurrency: large ? 4 : 8 });
  rounds.push(`${Math.round((cpuMicros(p.child.pid) - before) / N)}/${Math.round(rssBytes(p.child.pid) / 2 ** 20)}`);
}
console.log(`${target} ${scenario}: CPU µs per request / RSS MB, each round of ${N}:`);
console.log(rounds.join(' '));
p.child.kill('SIGKILL');
sims.child.kill();
process.exit(0);
