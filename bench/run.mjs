// qcc benchmark: each scenario direct (client → simulator), through qcc, and through nginx when installed.
// Usage: npm run bench            (writes bench/RESULTS.md)
//        ROUNDS=5 npm run bench   (more rounds; medians are reported)
//        NGINX=off npm run bench  (leave nginx out; NGINX=/path/to/nginx to use another binary)
//        TINYPROXY=off npm run bench  (leave out the row through an HTTP CONNECT tunnel)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, mkdirSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuMicros, cpuMicrosAll, childPids, rssBytes, spawnReady } from './procs.mjs';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { claudeCodeTurns, load, median, messageBody, percentile } from './load.mjs';
import { API_HEADERS, claudeCodeHeaders } from './api-headers.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const FO_SAMPLES = 25;
const ROOT = resolve(import.meta.dirname, '..');
const log = (s) => process.stderr.write(`${s}\n`);

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

// ---------- start everything ----------
const sims = await spawnReady(
  process.execPath,
  [join(ROOT, 'bench/sim-process.mjs'), JSON.stringify([
    { name: 'fast', behavior: { deltas: 50 } },
    { name: 'slow', behavior: { deltas: 50, deltaIntervalMs: 60 } },
    { name: 'o529', behavior: { status: 529 } },
    // What the real API adds to every answer (rate limits, ids, its CDN's): for the "real headers" rows.
    { name: 'api', behavior: { deltas: 50, headers: API_HEADERS } },
  ])],
  /^\{.*\}$/m,
);
const urls = JSON.parse(sims.match[0]);
const deadUrl = `http://127.0.0.1:${await freePort()}`;

const foModels = [];
const endpoints = [
  // Two endpoints on the same simulator, so weighted round robin really balances on every request.
  { id: 'a', base_url: urls.fast, api_key: 'sk-bench-a', models: ['bench-fast', 'bench-sse', 'bench-big'] },
  { id: 'b', base_url: urls.fast, api_key: 'sk-bench-b', models: ['bench-fast', 'bench-sse', 'bench-big'] },
  { id: 'slow', base_url: urls.slow, models: ['bench-slow'] },
  { id: 'api-a', base_url: urls.api, api_key: 'sk-bench-a', models: ['bench-api'] },
  { id: 'api-b', base_url: urls.api, api_key: 'sk-bench-b', models: ['bench-api'] },
];
for (let i = 0; i < FO_SAMPLES; i++) {
  // Heavy weights make the failing endpoint the first pick; one per sample, as its breaker then opens.
  endpoints.push({ id: `refused-${i}`, base_url: deadUrl, models: [`fo-refused-${i}`], weight: 1000 });
  endpoints.push({ id: `o529-${i}`, base_url: urls.o529, models: [`fo-529-${i}`], weight: 1000 });
  foModels.push(`fo-refused-${i}`, `fo-529-${i}`);
}
endpoints.push({ id: 'fallback', base_url: urls.fast, models: foModels, weight: 1 });

// An HTTP CONNECT proxy (Debian's tinyproxy) in front of the same simulator, for the tunnel row: one endpoint
// reached through it, serving its own model names, in the same qcc process as the direct ones.
function findTinyproxy() {
  if (process.env.TINYPROXY === 'off') return undefined;
  return (process.env.PATH ?? '').split(':').concat('/usr/bin', '/usr/sbin').map((dir) => join(dir, 'tinyproxy')).find((p) => existsSync(p));
}
async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((res) => {
      const s = netConnect(port, '127.0.0.1', () => (s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}
const tinyproxyBin = findTinyproxy();
let tunnelProxy;
if (tinyproxyBin) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'qcc-bench-tinyproxy-'));
  writeFileSync(join(dir, 'tinyproxy.conf'), `Listen 127.0.0.1\nPort ${port}\nAllow 127.0.0.1\nMaxClients 64\nTimeout 600\nLogLevel Warning\n`);
  const child = spawn(tinyproxyBin, ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  await waitForPort(port);
  const version = spawnSync(tinyproxyBin, ['-v'], { encoding: 'utf8' }).stdout.trim();
  tunnelProxy = { child, url: `http://127.0.0.1:${port}`, version };
  endpoints.push({ id: 'tunnel', base_url: urls.fast, proxy: tunnelProxy.url, models: ['bench-tunnel'] });
} else {
  log('no tinyproxy: the row through a CONNECT tunnel is left out');
}
/**
 * A qcc as shipped (the built CLI, in the foreground), in a fresh home with this config. With the Node flags
 * `qcc proxy start` runs it with (given here, so that the process measured is the proxy itself, not a launcher).
 */
async function startQcc(config) {
  const home = mkdtempSync(join(tmpdir(), 'qcc-bench-'));
  writeFileSync(join(home, 'config.json'), JSON.stringify({ version: 1, ...config }));
  return spawnReady(
    process.execPath,
    [...PROXY_NODE_FLAGS, join(ROOT, 'dist/cli/main.js'), 'proxy', 'start', '--foreground', '--port', '0'],
    /listening on (http:\/\/[\d.]+:\d+)/,
    { env: { ...process.env, QCC_HOME: home, NO_COLOR: '1' } },
  );
}
const qcc = await startQcc({ endpoints });
const qccUrl = qcc.match[1];
// A second process of the same build: two processes differ by several µs per request for their whole life (where
// their code and heap landed), so qcc's CPU figures pool the rounds of both.
const qccTwin = await startQcc({ endpoints });
// The same proxy with the request log off: the difference is what recording costs.
const qccNoStats = await startQcc({ stats: { enabled: false }, endpoints });

let nginx;
let nginxUrl;
let nginxSlowUrl;
let nginxApiUrl;
let nginxVersion = 'nginx not installed (`apt-get install nginx`), so its rows are left out';
let nginxPids = [];
/** The nginx binary: NGINX, else Debian's, else the first on PATH; none when NGINX=off or nothing is found. */
function findNginx() {
  if (process.env.NGINX === 'off') return undefined;
  if (process.env.NGINX) return process.env.NGINX;
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx';
  return (process.env.PATH ?? '').split(':').map((dir) => join(dir, 'nginx')).find((p) => existsSync(p));
}
const nginxBin = findNginx();
if (nginxBin === undefined) log(`${nginxVersion}.`);
if (process.env.NGINX === 'off') nginxVersion = 'nginx left out (NGINX=off)';
if (nginxBin !== undefined) {
  // `nginx -v` prints its version on stderr.
  nginxVersion = spawnSync(nginxBin, ['-v'], { encoding: 'utf8' }).stderr.trim();
  const prefix = mkdtempSync(join(tmpdir(), 'qcc-bench-nginx-'));
  mkdirSync(join(prefix, 'logs'));
  const port = await freePort();
  const slowPort = await freePort();
  const apiPort = await freePort();
  const fast = new URL(urls.fast);
  const slow = new URL(urls.slow);
  const api = new URL(urls.api);
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `worker_processes 1; daemon off; master_process on; pid ${prefix}/nginx.pid; error_log stderr warn; user root;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy;
  upstream sim { server ${fast.host}; keepalive 256; }
  upstream slowsim { server ${slow.host}; keepalive 1024; }
  upstream apisim { server ${api.host}; keepalive 256; }
  server {
    listen 127.0.0.1:${port} reuseport;
    client_max_body_size 64m; client_body_buffer_size 1m;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
  server {
    listen 127.0.0.1:${slowPort} reuseport;
    location / { proxy_pass http://slowsim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
  server {
    listen 127.0.0.1:${apiPort} reuseport;
    location / { proxy_pass http://apisim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
`,
  );
  nginx = (await import('node:child_process')).spawn(nginxBin, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
  nginxUrl = `http://127.0.0.1:${port}`;
  nginxSlowUrl = `http://127.0.0.1:${slowPort}`;
  nginxApiUrl = `http://127.0.0.1:${apiPort}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await load({ url: nginxUrl, body: messageBody('bench-fast'), n: 1, concurrency: 1 });
      if (r.failures === 0) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  nginxPids = [nginx.pid, ...childPids(nginx.pid)];
}

// The floor for a Node proxy on this machine: undici dispatch with nothing else (bench/bare-passthrough.mjs).
const bare = await spawnReady(process.execPath, [join(ROOT, 'bench/bare-passthrough.mjs'), urls.fast], /listening on (http:\/\/[\d.]+:\d+)/);

// Floors, not proxies: what node:http costs with no upstream at all, and a proxy with HTTP hand-written on both
// sides (bench/floor-*.mjs). They bound what any proxy on Node can reach on this machine.
const floorNode = await spawnReady(process.execPath, [join(ROOT, 'bench/floor-node-http.mjs'), urls.fast], /listening on (http:\/\/[\d.]+:\d+)/);
const floorRaw = await spawnReady(process.execPath, [join(ROOT, 'bench/floor-raw-proxy.mjs'), urls.fast], /listening on (http:\/\/[\d.]+:\d+)/);
const floors = [
  { name: 'node:http answering from memory (no upstream)', url: floorNode.match[1], pids: [floorNode.child.pid] },
  { name: 'hand-written HTTP on both sides (not a usable proxy)', url: floorRaw.match[1], pids: [floorRaw.child.pid] },
];

const targets = [
  { name: 'direct', url: urls.fast, pids: [] },
  { name: 'qcc', url: qccUrl, pids: [qcc.child.pid], twin: { url: qccTwin.match[1], pids: [qccTwin.child.pid] } },
  { name: 'qcc, stats off', url: qccNoStats.match[1], pids: [qccNoStats.child.pid] },
  ...(nginxUrl ? [{ name: 'nginx', url: nginxUrl, pids: nginxPids }] : []),
  { name: 'bare undici', url: bare.match[1], pids: [bare.child.pid] },
];

// ---------- measurement helpers ----------
/**
 * CPU per request and throughput for every target, rounds interleaved (round r visits the targets in a rotated
 * order), so a machine that gets busier or quieter during the run shifts every target alike.
 */
async function cpuPerRequestAll(list, body, n, concurrency, headers = {}) {
  const cpus = list.map(() => []);
  const rpss = list.map(() => []);
  // What is measured: each target, and a target's twin process too (its rounds count for the target).
  const runs = list.flatMap((t, k) => [
    { k, name: t.name, url: t.url, pids: t.pids },
    ...(t.twin ? [{ k, name: `${t.name} (twin)`, url: t.twin.url, pids: t.twin.pids }] : []),
  ]);
  // Warm-up long enough for the JIT to settle: a cold first round reads two to three times the steady cost.
  for (const run of runs) await load({ url: run.url, body, n: Math.min(2000, n), concurrency, headers });
  for (let r = 0; r < ROUNDS; r++) {
    for (let i = 0; i < runs.length; i++) {
      const run = runs[(i + r) % runs.length];
      const before = run.pids.length ? cpuMicrosAll(run.pids) : 0;
      const res = await load({ url: run.url, body, n, concurrency, headers });
      if (res.failures) throw new Error(`${run.name}: ${res.failures} failures`);
      const after = run.pids.length ? cpuMicrosAll(run.pids) : 0;
      cpus[run.k].push((after - before) / n);
      rpss[run.k].push(res.rps);
    }
  }
  return list.map((t, k) => ({ cpu: t.pids.length ? median(cpus[k]) : null, rps: median(rpss[k]) }));
}

async function oneConnection(target, body, n) {
  await load({ url: target.url, body, n: 100, concurrency: 1 });
  const all = [];
  const first = [];
  const content = [];
  for (let r = 0; r < ROUNDS; r++) {
    const res = await load({ url: target.url, body, n, concurrency: 1 });
    all.push(...res.latencies);
    first.push(...res.firstEvents);
    content.push(...res.firstContents);
  }
  return { p50: percentile(all, 50), p99: percentile(all, 99), first50: percentile(first, 50), content50: content.length ? percentile(content, 50) : null };
}

const results = {};
const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));

// ---------- 1. small JSON ----------
log('small JSON /v1/messages …');
const small = messageBody('bench-fast');
const smallCpu = await cpuPerRequestAll([...targets, ...floors], small, 3000, 8);
for (const [k, t] of targets.entries()) results[`json-${t.name}`] = { ...smallCpu[k], ...(await oneConnection(t, small, 1000)) };
for (const [k, t] of floors.entries()) results[`json-${t.name}`] = smallCpu[targets.length + k];

// ---------- 2. SSE stream, 50 deltas ----------
log('SSE streams, 50 deltas …');
const sse = messageBody('bench-sse', { stream: true });
const sseCpu = await cpuPerRequestAll([...targets, ...floors], sse, 1500, 8);
for (const [k, t] of targets.entries()) results[`sse-${t.name}`] = { ...sseCpu[k], ...(await oneConnection(t, sse, 300)) };
for (const [k, t] of floors.entries()) results[`sse-${t.name}`] = sseCpu[targets.length + k];
// Byte and event identity: same request direct and through qcc (message ids scrubbed: the simulator makes fresh ones).
const scrub = (s) => s.replace(/msg_sim_[0-9a-f]+/g, 'msg');
const viaDirect = (await load({ url: urls.fast, body: sse, n: 1, concurrency: 1, keepBodies: true })).bodies[0].body;
const viaQcc = (await load({ url: qccUrl, body: sse, n: 1, concurrency: 1, keepBodies: true })).bodies[0].body;
const identical = scrub(viaDirect) === scrub(viaQcc);
const events = (s) => (s.match(/^event: /gm) ?? []).length;

// ---------- 2b. a real Claude Code request ----------
// The body Claude Code 2.1.197 sent for a first turn (76 KB: system prompt, tools, the message), stream: true.
log('Claude Code request bodies (76 KB, streamed answer) …');
const captured = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/claude-code-2.1.197-messages-body.json'), 'utf8'));
const ccBody = claudeCodeTurns(captured, 'bench-sse');
const ccCpu = await cpuPerRequestAll(targets, ccBody, 1000, 4);
for (const [k, t] of targets.entries()) results[`cc-${t.name}`] = { ...ccCpu[k], ...(await oneConnection(t, ccBody, 200)) };

// ---------- 2c. the headers real traffic carries ----------
// Claude Code's own request headers (21 lines, from the captured request) and the API's answer headers (the
// simulator above, 21 more), on the small JSON and 50-delta stream requests: the rows above send 3 headers and
// get 3 back, which is what the issue's scenarios ask, but not what a proxy in front of the API handles.
log('the same with real headers both ways …');
const ccHeaders = claudeCodeHeaders();
const bareApi = await spawnReady(process.execPath, [join(ROOT, 'bench/bare-passthrough.mjs'), urls.api], /listening on (http:\/\/[\d.]+:\d+)/);
const floorApi = await spawnReady(process.execPath, [join(ROOT, 'bench/floor-raw-proxy.mjs'), urls.api], /listening on (http:\/\/[\d.]+:\d+)/);
const apiTargets = [
  { name: 'qcc', url: qccUrl, pids: [qcc.child.pid], twin: { url: qccTwin.match[1], pids: [qccTwin.child.pid] } },
  ...(nginxApiUrl ? [{ name: 'nginx', url: nginxApiUrl, pids: nginxPids }] : []),
  { name: 'bare undici', url: bareApi.match[1], pids: [bareApi.child.pid] },
  { name: floors[1].name, url: floorApi.match[1], pids: [floorApi.child.pid] },
];
const apiJson = await cpuPerRequestAll(apiTargets, messageBody('bench-api'), 3000, 8, ccHeaders);
const apiSse = await cpuPerRequestAll(apiTargets, messageBody('bench-api', { stream: true }), 1500, 8, ccHeaders);
results.realHeaders = apiTargets.map((t, k) => ({ name: t.name, json: apiJson[k].cpu, sse: apiSse[k].cpu }));
bareApi.child.kill('SIGTERM');
floorApi.child.kill('SIGTERM');

// ---------- 2d. through an HTTP CONNECT tunnel ----------
// The same qcc process, the same simulator: requests for bench-fast go to it directly, requests for bench-tunnel
// through tinyproxy's CONNECT tunnel (kept alive, like a direct connection). Only qcc's own CPU is counted:
// what the tunnel adds to qcc, not what tinyproxy spends relaying.
if (tunnelProxy) {
  log('through a CONNECT tunnel …');
  results.tunnel = {};
  const kinds = [
    ['json', small, messageBody('bench-tunnel'), 3000],
    ['sse', sse, messageBody('bench-tunnel', { stream: true }), 1500],
  ];
  for (const [kind, directBody, tunnelBody, n] of kinds) {
    const cpu = { direct: [], tunnel: [] };
    for (const body of [directBody, tunnelBody]) await load({ url: qccUrl, body, n: 1000, concurrency: 8 });
    for (let r = 0; r < ROUNDS; r++) {
      for (const which of r % 2 ? ['tunnel', 'direct'] : ['direct', 'tunnel']) {
        const before = cpuMicrosAll([qcc.child.pid]);
        const res = await load({ url: qccUrl, body: which === 'direct' ? directBody : tunnelBody, n, concurrency: 8 });
        if (res.failures) throw new Error(`${which} (${kind}): ${res.failures} failures`);
        cpu[which].push((cpuMicrosAll([qcc.child.pid]) - before) / n);
      }
    }
    results.tunnel[kind] = { direct: median(cpu.direct), tunnel: median(cpu.tunnel) };
  }
}

// ---------- 3. 256 KB request bodies ----------
log('256 KB request bodies …');
const big = messageBody('bench-big', { padBytes: 256 * 1024 });
const bigCpu = await cpuPerRequestAll(targets, big, 400, 4);
for (const [k, t] of targets.entries()) results[`big-${t.name}`] = bigCpu[k];

// ---------- 4. 1,000 concurrent slow streams ----------
log('1,000 concurrent slow streams …');
const slowBody = messageBody('bench-slow', { stream: true });
// The size V8 has given its young generation, from qcc's /metrics: it grows once, under the first burst whose
// objects survive collections, and then stays; that growth is heap sizing, not memory each stream holds.
async function youngGenerationBytes(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(text)?.[1] ?? NaN);
}
async function concurrentStreams(url, pid) {
  const idle = pid ? rssBytes(pid) : 0;
  const youngBefore = pid ? await youngGenerationBytes(url) : 0;
  let peak = idle;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 100) : undefined;
  const res = await load({ url, body: slowBody, n: 1000, concurrency: 1000 });
  clearInterval(sampler);
  const youngGrowth = pid ? (await youngGenerationBytes(url)) - youngBefore : null;
  return { failures: res.failures, lastFirstEvent: Math.max(...res.firstEvents), medianFirstEvent: median(res.firstEvents), rssPerStream: pid ? (peak - idle) / 1000 : null, idleRss: idle, youngGrowth };
}
results['c1000-direct'] = await concurrentStreams(urls.slow, undefined);
// A fresh qcc with the same config, so its idle RSS is a clean baseline (the main one's heap has grown over the
// runs above). Two bursts: the first also opens 1,000 upstream connections (cold); the second reuses them (warm).
const qccStreams = await startQcc({ endpoints });
await load({ url: qccStreams.match[1], body: slowBody, n: 20, concurrency: 20 }); // JIT and modules warm
results['c1000-qcc-cold'] = await concurrentStreams(qccStreams.match[1], qccStreams.child.pid);
results['c1000-qcc'] = await concurrentStreams(qccStreams.match[1], qccStreams.child.pid);

// What a stream costs when its events arrive one by one, as a model's tokens do: each event is a read and a write
// on each side. (The 50-delta rows above send a stream's events at once, so a proxy reads most of them in one go.)
// Warm bursts of the same 1,000 slow streams through qcc and through the references, each proxying to the slow
// simulator, rounds rotated.
const bareSlow = await spawnReady(process.execPath, [join(ROOT, 'bench/bare-passthrough.mjs'), urls.slow], /listening on (http:\/\/[\d.]+:\d+)/);
const floorSlow = await spawnReady(process.execPath, [join(ROOT, 'bench/floor-raw-proxy.mjs'), urls.slow], /listening on (http:\/\/[\d.]+:\d+)/);
const slowTargets = [
  { name: 'qcc', url: qccStreams.match[1], pids: [qccStreams.child.pid] },
  ...(nginxSlowUrl ? [{ name: 'nginx', url: nginxSlowUrl, pids: nginxPids }] : []),
  { name: 'bare undici', url: bareSlow.match[1], pids: [bareSlow.child.pid] },
  { name: floors[1].name, url: floorSlow.match[1], pids: [floorSlow.child.pid] },
];
const slowCpu = slowTargets.map(() => []);
for (const t of slowTargets.slice(1)) await load({ url: t.url, body: slowBody, n: 1000, concurrency: 1000 }); // their connections and JIT warm
for (let r = 0; r < Math.min(ROUNDS, 3); r++) {
  for (let i = 0; i < slowTargets.length; i++) {
    const k = (i + r) % slowTargets.length;
    const before = cpuMicrosAll(slowTargets[k].pids);
    const res = await load({ url: slowTargets[k].url, body: slowBody, n: 1000, concurrency: 1000 });
    if (res.failures) throw new Error(`${slowTargets[k].name}: ${res.failures} failures in a burst of slow streams`);
    slowCpu[k].push((cpuMicrosAll(slowTargets[k].pids) - before) / 1000);
  }
}
results.slowStreamCpu = slowTargets.map((t, k) => ({ name: t.name, cpu: median(slowCpu[k]) }));
qccStreams.child.kill('SIGTERM');
bareSlow.child.kill('SIGTERM');
floorSlow.child.kill('SIGTERM');

// ---------- 5. failover ----------
log('failover …');
const baseline = await oneConnection({ url: urls.fast }, small, 200);
const fo = { refused: [], o529: [] };
for (let i = 0; i < FO_SAMPLES; i++) {
  fo.refused.push((await load({ url: qccUrl, body: messageBody(`fo-refused-${i}`), n: 1, concurrency: 1 })).latencies[0]);
  fo.o529.push((await load({ url: qccUrl, body: messageBody(`fo-529-${i}`), n: 1, concurrency: 1 })).latencies[0]);
}
const qccJson = results['json-qcc'];
results.failover = {
  refused: median(fo.refused) - qccJson.p50,
  o529: median(fo.o529) - qccJson.p50,
  baselineDirect: baseline.p50,
};

// ---------- report ----------
const d = results['json-direct'];
const row = (name, r, base) => {
  const added50 = r.p50 - base.p50;
  const added99 = r.p99 - base.p99;
  return `| ${name} | ${fmt(r.cpu)} | ${fmt(r.rps)} | ${fmt(r.rps / base.rps, 2)} | ${fmt(r.p50, 3)} | ${fmt(added50, 3)} | ${fmt(r.p99, 3)} | ${fmt(added99, 3)} |`;
};
const sd = results['sse-direct'];
const sseRow = (name, r) =>
  `| ${name} | ${fmt(r.cpu)} | ${fmt(r.rps)} | ${fmt(r.rps / sd.rps, 2)} | ${fmt(r.first50, 3)} | ${fmt(r.first50 - sd.first50, 3)} | ${fmt(r.content50, 3)} | ${fmt(r.content50 - sd.content50, 3)} | ${fmt(r.p50, 3)} |`;
const bd = results['big-direct'];
const cpuModel = cpus()[0]?.model ?? 'unknown';
const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
const check = (ok) => (ok ? '✅' : '❌');
const q = (k) => results[k];
// qcc's CPU as a multiple of a reference's in this run, and whether both scenarios are within the issue's targets
// taken as multiples of it (60 and 110 µs where it measured nginx at ~24 / ~43). Against bare undici the issue asks
// only that qcc beat it: its figures there (~76 / ~140, 3.2x its nginx) suggest a heavier pass-through than
// bench/'s, which measures 2.0-2.4x nginx.
const ratio = (scenario, ref) => (q(`${scenario}-${ref}`) ? q(`${scenario}-qcc`).cpu / q(`${scenario}-${ref}`).cpu : NaN);
const slowRatio = (ref) => {
  const own = results.slowStreamCpu.find((r) => r.name === 'qcc');
  const other = results.slowStreamCpu.find((r) => r.name === ref);
  return own && other ? own.cpu / other.cpu : NaN;
};
const withinRatios = (ref, json, sse) => (Number.isNaN(ratio('json', ref)) ? '–' : check(ratio('json', ref) <= 60 / json && ratio('sse', ref) <= 110 / sse));

const md = `# qcc benchmark results

Produced by \`npm run bench\` (${ROUNDS === 1 ? 'one round' : `${ROUNDS} rounds, medians`}) on ${new Date().toISOString().slice(0, 10)}.
Machine: ${cpuModel}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; qcc ${version}; ${nginxVersion}.
Everything on loopback: the simulator, qcc, ${nginxUrl ? 'nginx ' : ''}and a bare undici pass-through (the least a Node proxy can do,
\`bench/bare-passthrough.mjs\`) are separate processes; the load generator is this script
(undici). qcc runs as shipped: balancing over two endpoints (weighted round robin), stats recording to SQLite,
health checks on, Prometheus metrics, the log at its default level (\`info\`: no line per request, which the request
log records; as \`npm start\` and \`qcc proxy start\` run it). Proxy CPU is the time the scheduler ran the
process's threads (\`/proc/PID/task/*/schedstat\`, nanoseconds, user and kernel) over each round, divided by
its requests; rounds visit the targets in rotation so that drift in the machine's load hits them alike. The same
build measured in two processes differs by up to ~10 µs per request for as long as they run, so the "qcc" rows
pool the rounds of two processes of it (the other rows are one process each). On a shared 2-core machine
throughput swings between runs: CPU per request and latency at one connection are the figures to lead with, and
differences smaller than ~5 µs are noise.

## Small JSON \`/v1/messages\` (3,000 requests at concurrency 8; latency over ${ROUNDS}×1,000 sequential requests)

| path | proxy CPU µs/req | RPS | RPS vs direct | p50 ms | added p50 ms | p99 ms | added p99 ms |
|---|---|---|---|---|---|---|---|
${targets.map((t) => row(t.name, q(`json-${t.name}`), d)).join('\n')}

## SSE stream, 50 deltas (1,500 streams at concurrency 8; first event over ${ROUNDS}×300 sequential streams)

| path | proxy CPU µs/stream | streams/s | vs direct | first event p50 ms | first event added ms | first content p50 ms | first content added ms | whole stream p50 ms |
|---|---|---|---|---|---|---|---|---|
${targets.map((t) => sseRow(t.name, q(`sse-${t.name}`))).join('\n')}

qcc holds a stream until its first content (\`content_block_delta\`: before it a client has nothing to show), so
that a stream failing or stalling before it can still be failed over or hedged (#22); its first event is its first
content. Direct and through bare undici, \`message_start\` arrives a little before the first delta.

Bytes and events through qcc identical to direct (message ids aside): **${identical ? 'yes' : 'NO'}** (${events(viaQcc)} events, ${Buffer.byteLength(viaQcc)} bytes).

## Floors: what Node itself costs here (same runs, interleaved with the rows above)

| reference | CPU µs per small JSON request | CPU µs per 50-delta stream |
|---|---|---|
${floors.map((f) => `| ${f.name} | ${fmt(q(`json-${f.name}`).cpu)} | ${fmt(q(`sse-${f.name}`).cpu)} |`).join('\n')}

## A real Claude Code request (the captured 76 KB first turn sent as successive turns of its conversation, one more user message each; streamed answer; 1,000 at concurrency 4)

| path | proxy CPU µs/req | req/s | vs direct | first event p50 ms | first event added ms | whole stream p50 ms |
|---|---|---|---|---|---|---|
${targets.map((t) => { const r = q(`cc-${t.name}`); const base = q('cc-direct'); return `| ${t.name} | ${fmt(r.cpu)} | ${fmt(r.rps)} | ${fmt(r.rps / base.rps, 2)} | ${fmt(r.first50, 3)} | ${fmt(r.first50 - base.first50, 3)} | ${fmt(r.p50, 3)} |`; }).join('\n')}

## The same small requests with real headers both ways (Claude Code's 21 request headers, the API's 21 answer headers)

The rows above carry 3 headers each way, as the issue's scenarios do; a proxy in front of the real API reads,
filters and writes some 25 each way, every request. Same loads (small JSON: 3,000 at concurrency 8; 50-delta
stream: 1,500), against a simulator that adds the API's rate-limit, id and CDN headers (\`bench/api-headers.mjs\`).

| path | proxy CPU µs per small JSON request | per 50-delta stream |
|---|---|---|
${results.realHeaders.map((r) => `| ${r.name} | ${fmt(r.json)} | ${fmt(r.sse)} |`).join('\n')}

## Through an HTTP CONNECT tunnel (${tunnelProxy ? tunnelProxy.version : 'not measured: no tinyproxy in this run'})

The same qcc process and simulator; one endpoint reached directly, one through tinyproxy's \`CONNECT\` tunnel
(\`endpoints[].proxy\`), rounds interleaved. qcc's own CPU only: the tunnel's connection is reused like a direct
one, so after its handshake a tunnelled request costs qcc what a direct one does.

| request | qcc CPU µs, direct | through the tunnel | difference |
|---|---|---|---|
${results.tunnel ? ['json', 'sse'].map((k) => `| ${k === 'json' ? 'small JSON (3,000 at concurrency 8)' : '50-delta stream (1,500)'} | ${fmt(results.tunnel[k].direct)} | ${fmt(results.tunnel[k].tunnel)} | ${fmt(results.tunnel[k].tunnel - results.tunnel[k].direct, 1)} |`).join('\n') : '| – | – | – | – |'}

## 256 KB request bodies (400 requests at concurrency 4)

| path | proxy CPU µs/req | RPS | RPS vs direct |
|---|---|---|---|
${targets.map((t) => `| ${t.name} | ${fmt(q(`big-${t.name}`).cpu)} | ${fmt(q(`big-${t.name}`).rps)} | ${fmt(q(`big-${t.name}`).rps / bd.rps, 2)} |`).join('\n')}

## 1,000 concurrent slow streams (50 deltas, 60 ms apart)

| path | failures | first event, median ms | first event of the last stream ms | RSS per stream KB | of which V8's young generation growing, MB |
|---|---|---|---|---|---|
| direct | ${q('c1000-direct').failures} | ${fmt(q('c1000-direct').medianFirstEvent, 1)} | ${fmt(q('c1000-direct').lastFirstEvent, 1)} | – | – |
| qcc, cold (opens 1,000 upstream connections) | ${q('c1000-qcc-cold').failures} | ${fmt(q('c1000-qcc-cold').medianFirstEvent, 1)} | ${fmt(q('c1000-qcc-cold').lastFirstEvent, 1)} | ${fmt(q('c1000-qcc-cold').rssPerStream / 1024, 1)} | ${fmt(q('c1000-qcc-cold').youngGrowth / 2 ** 20, 1)} |
| qcc, warm (reuses them) | ${q('c1000-qcc').failures} | ${fmt(q('c1000-qcc').medianFirstEvent, 1)} | ${fmt(q('c1000-qcc').lastFirstEvent, 1)} | ${fmt(q('c1000-qcc').rssPerStream / 1024, 1)} | ${fmt(q('c1000-qcc').youngGrowth / 2 ** 20, 1)} |

The young generation's growth is read from qcc's \`/metrics\` (\`nodejs_heap_space_size_total_bytes{space="new"}\`)
before and after each burst: V8 enlarges it once, under the first burst whose objects outlive collections, and
keeps it; it is counted in the cold row's RSS but is not memory the streams hold.

### The same streams' CPU, events arriving one by one (warm bursts of 1,000, ${Math.min(ROUNDS, 3) === 1 ? 'one round' : `${Math.min(ROUNDS, 3)} rounds, median`})

Each of the 50 deltas arrives 60 ms after the last, as a model's tokens do, so every event is its own read and
write on each side of the proxy (above, the 50-delta stream's events arrive together and are mostly read in one
go). This is what a real stream costs; the kernel's share of it is most of it.

| path | proxy CPU µs per stream | per event |
|---|---|---|
${results.slowStreamCpu.map((r) => `| ${r.name} | ${fmt(r.cpu)} | ${fmt(r.cpu / 50, 1)} |`).join('\n')}

## Failover (${FO_SAMPLES} samples each, median, compared with qcc's own p50 for a request that needs none)

| first endpoint | added latency ms |
|---|---|
| refuses connections | ${fmt(results.failover.refused, 3)} |
| answers 529 | ${fmt(results.failover.o529, 3)} |

## Against the targets

| target | measured | |
|---|---|---|
| CPU ≤ 60 µs per small JSON request | ${fmt(q('json-qcc').cpu)} µs (bare undici here: ${fmt(q('json-bare undici').cpu)} µs; node:http alone, no upstream: ${fmt(q(`json-${floors[0].name}`).cpu)} µs) | ${check(q('json-qcc').cpu <= 60)} |
| CPU ≤ 110 µs per 50-delta stream | ${fmt(q('sse-qcc').cpu)} µs (bare undici here: ${fmt(q('sse-bare undici').cpu)} µs; hand-written both sides: ${fmt(q(`sse-${floors[1].name}`).cpu)} µs) | ${check(q('sse-qcc').cpu <= 110)} |
| the same two against this run's nginx (the issue set them where nginx measured ~24 / ~43 µs: ≤ 2.5× / 2.56×) | ${nginxUrl ? `small JSON ${fmt(ratio('json', 'nginx'), 2)}×, stream ${fmt(ratio('sse', 'nginx'), 2)}×` : 'not measured: no nginx in this run'} | ${withinRatios('nginx', 24, 43)} |
| qcc, doing more, beats the bare undici pass-through (CPU, every scenario) | small JSON ${fmt(ratio('json', 'bare undici'), 2)}×, stream ${fmt(ratio('sse', 'bare undici'), 2)}×, Claude Code turn ${fmt(ratio('cc', 'bare undici'), 2)}×, 256 KB ${fmt(ratio('big', 'bare undici'), 2)}×, events one by one ${fmt(slowRatio('bare undici'), 2)}× (the issue's own figures, 60 and 110 µs where bare measured ~76 / ~140, are 0.79×) | ${check(['json', 'sse', 'cc', 'big'].every((k) => ratio(k, 'bare undici') < 1) && slowRatio('bare undici') < 1)} |
| added latency ≤ 0.25 ms p50 | ${fmt(q('json-qcc').p50 - d.p50, 3)} ms | ${check(q('json-qcc').p50 - d.p50 <= 0.25)} |
| added latency ≤ 2 ms p99 | ${fmt(q('json-qcc').p99 - d.p99, 3)} ms | ${check(q('json-qcc').p99 - d.p99 <= 2)} |
| first SSE event delayed ≤ 0.5 ms | ${fmt(q('sse-qcc').first50 - sd.first50, 3)} ms | ${check(q('sse-qcc').first50 - sd.first50 <= 0.5)} |
| first SSE content delayed ≤ 0.5 ms | ${fmt(q('sse-qcc').content50 - sd.content50, 3)} ms (bare undici: ${fmt(q('sse-bare undici').content50 - sd.content50, 3)} ms) | ${check(q('sse-qcc').content50 - sd.content50 <= 0.5)} |
| ≤ 30 KB per concurrent stream (warm) | ${fmt(q('c1000-qcc').rssPerStream / 1024, 1)} KB (cold: ${fmt(q('c1000-qcc-cold').rssPerStream / 1024, 1)} KB) | ${check(q('c1000-qcc').rssPerStream / 1024 <= 30)} |
| 1,000 streams, no queueing (last first event within 2× direct's, warm) | ${fmt(q('c1000-qcc').lastFirstEvent, 1)} ms vs ${fmt(q('c1000-direct').lastFirstEvent, 1)} ms (cold: ${fmt(q('c1000-qcc-cold').lastFirstEvent, 1)} ms) | ${check(q('c1000-qcc').failures === 0 && q('c1000-qcc').lastFirstEvent <= 2 * q('c1000-direct').lastFirstEvent + 50)} |
| CPU through a CONNECT tunnel within 5 µs of direct | ${results.tunnel ? `small JSON ${fmt(results.tunnel.json.tunnel - results.tunnel.json.direct, 1)} µs, stream ${fmt(results.tunnel.sse.tunnel - results.tunnel.sse.direct, 1)} µs` : 'not measured'} | ${results.tunnel ? check(['json', 'sse'].every((k) => results.tunnel[k].tunnel - results.tunnel[k].direct <= 5)) : '–'} |
| failover after a refused connection adds ≤ 5 ms | ${fmt(results.failover.refused, 3)} ms | ${check(results.failover.refused <= 5)} |

Recording every request to SQLite (issue: "adds no measurable latency"): p50 at one connection
${fmt(q('json-qcc').p50, 3)} ms with the request log on, ${fmt(q('json-qcc, stats off').p50, 3)} ms with it off; CPU
${fmt(q('json-qcc').cpu)} µs vs ${fmt(q('json-qcc, stats off').cpu)} µs per request (the rows are written in batches off the request path).
`;

process.stdout.write(md);
const notes = existsSync(join(ROOT, 'bench/NOTES.md')) ? `\n${readFileSync(join(ROOT, 'bench/NOTES.md'), 'utf8')}` : '';
writeFileSync(join(ROOT, 'bench/RESULTS.md'), md + notes);
log('written bench/RESULTS.md');

sims.child.kill('SIGTERM');
qcc.child.kill('SIGTERM');
qccNoStats.child.kill('SIGTERM');
qccTwin.child.kill('SIGTERM');
bare.child.kill('SIGTERM');
floorNode.child.kill('SIGTERM');
floorRaw.child.kill('SIGTERM');
nginx?.kill('SIGQUIT');
tunnelProxy?.child.kill('SIGTERM');
process.exit(0);
