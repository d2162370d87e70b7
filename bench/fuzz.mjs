// Fuzz qcc from both sides, as shipped (the built CLI in the foreground, default settings), and write the
// figures to bench/FUZZ.md.
//   node bench/fuzz.mjs                 (10,000 cases each way, seed 1)
//   CASES=20000 SEED=7 node bench/fuzz.mjs
//   SIDES=endpoints node bench/fuzz.mjs   (one side only: endpoints or clients; FUZZ.md is written for both only)
// Endpoints side: a hostile endpoint answers every request with a generated response mutated at the byte level
// (src/sim/fuzz.ts); clients send ordinary requests through qcc. Clients side: raw connections send mutated
// requests. Both count what qcc did with each case, and compare its memory and open sockets before and after.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:http';
import { generateRequest, generateResponse, mutate } from '../dist/sim/fuzz.js';
import { startSimulator } from '../dist/sim/simulator.js';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { rssBytes, spawnReady } from './procs.mjs';
import Database from 'better-sqlite3';

const ROOT = resolve(import.meta.dirname, '..');
const CASES = Number(process.env.CASES ?? 10_000);
const SEED = Number(process.env.SEED ?? 1);
const CONCURRENCY = 8;
const SIDES = process.env.SIDES ?? 'both';
const CASE_TIMEOUT_MS = 5_000;
const log = (s) => process.stderr.write(`${s}\n`);

/** mulberry32, as the tests' prng: the same seed gives the same cases. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const openFds = (pid) => readdirSync(`/proc/${pid}/fd`).length;
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// ---------- endpoints' side: a hostile endpoint ----------
const responses = [];
{
  const rand = prng(SEED);
  for (let i = 0; i < CASES; i++) responses.push(Buffer.from(mutate(generateResponse(rand), rand), 'latin1'));
}
let served = 0; // client requests the hostile endpoint read
let checks = 0; // qcc's own recovery checks it read
const hostile = createServer((socket) => {
  socket.on('error', () => undefined);
  let seen = Buffer.alloc(0);
  socket.on('data', (d) => {
    seen = Buffer.concat([seen, d]);
    const end = seen.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = seen.subarray(0, end).toString('latin1');
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (seen.length < end + 4 + length) return;
    seen = Buffer.alloc(0);
    // The client names its case (x-fuzz-case, forwarded by qcc as every x-* header is). Requests without one are
    // qcc's own recovery checks of this failing endpoint; they are answered too, but not counted.
    const fuzzCase = /x-fuzz-case: *(\d+)/i.exec(head)?.[1];
    if (fuzzCase !== undefined) served++;
    else checks++;
    socket.end(responses[Number(fuzzCase ?? 0) % responses.length]);
  });
});
await new Promise((r) => hostile.listen(0, '127.0.0.1', r));
const good = await startSimulator({ name: 'good' });

const home = mkdtempSync(join(tmpdir(), 'qcc-fuzz-'));
writeFileSync(
  join(home, 'config.json'),
  JSON.stringify({
    version: 1,
    endpoints: [
      { id: 'hostile', base_url: `http://127.0.0.1:${hostile.address().port}`, models: ['fuzz'] },
      { id: 'good', base_url: good.url, models: ['claude-haiku-4-5-20251001', 'claude-sonnet-5'] },
    ],
  }),
);
const qcc = await spawnReady(process.execPath, [...PROXY_NODE_FLAGS, join(ROOT, 'dist/cli/main.js'), 'proxy', 'start', '--foreground', '--port', '0'], /listening on (http:\/\/[\d.]+:\d+)/, {
  env: { ...process.env, QCC_HOME: home, NO_COLOR: '1' },
});
qcc.child.stdout.resume();
qcc.child.stderr.resume();
const url = new URL(qcc.match[1]);
const pid = qcc.child.pid;

/** One request through qcc: how it ended. */
function throughQcc(model, stream, fuzzCase = 0) {
  return new Promise((done) => {
    const body = JSON.stringify({ model, max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] });
    let settled = false;
    const finish = (kind) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        done(kind);
      }
    };
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/v1/messages', agent: false, headers: { 'content-type': 'application/json', 'x-fuzz-case': String(fuzzCase) } }, (res) => {
      res.resume();
      res.on('end', () => finish(`answered ${Math.floor(res.statusCode / 100)}xx`));
      res.on('error', () => finish('cut after the head'));
      res.on('aborted', () => finish('cut after the head'));
    });
    req.on('error', () => finish('connection failed'));
    const timer = setTimeout(() => {
      req.destroy();
      finish('no answer');
    }, CASE_TIMEOUT_MS);
    req.end(body);
  });
}

/** Outcomes that need a look: their case numbers are kept (with the seed, that reproduces them). */
const UNUSUAL = new Set(['connection failed', 'no answer', 'no answer, not closed', 'answered, not HTTP']);

async function run(n, one) {
  const counts = {};
  const unusual = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < n) {
        const i = next++;
        const kind = await one(i);
        counts[kind] = (counts[kind] ?? 0) + 1;
        if (UNUSUAL.has(kind)) unusual.push({ i, kind });
      }
    }),
  );
  return { counts, unusual };
}

async function snapshot() {
  await new Promise((r) => setTimeout(r, 1500)); // let closing sockets close
  return { rss: rssBytes(pid), fds: openFds(pid) };
}

await run(200, () => throughQcc('claude-haiku-4-5-20251001', false)); // warm
const before1 = await snapshot();
log(`endpoints' side: ${CASES} mutated responses …`);
const t1 = performance.now();
const upstream = await run(CASES, (i) => throughQcc('fuzz', i % 2 === 0, i));
await new Promise((r) => setTimeout(r, 1000)); // the request log is written in batches
const db = new Database(join(home, 'qcc.db'), { readonly: true });
const logged = db.prepare("SELECT COUNT(*) AS requests, SUM(attempt_count) AS attempts FROM requests WHERE model = 'fuzz'").get();
db.close();
const upstreamSeconds = (performance.now() - t1) / 1000;
const after1 = await snapshot();
const stillServes1 = (await throughQcc('claude-haiku-4-5-20251001', true)) === 'answered 2xx';
const alive1 = alive(pid);

// ---------- clients' side: mutated requests on raw connections ----------
/** One raw connection: write the case, half-close, and see what comes back. */
function rawCase(bytes) {
  return new Promise((done) => {
    let out = '';
    let settled = false;
    const socket = connect(Number(url.port), url.hostname);
    const finish = (kind) => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        done(kind);
      }
    };
    // Written, then a moment to be answered, then half-closed: a head that is not complete by then gets EOF.
    socket.on('connect', () => {
      socket.write(bytes);
      setTimeout(() => socket.end(), 50);
    });
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = /^HTTP\/1\.[01] (\d)\d\d /.exec(out);
      finish(status ? `answered ${status[1]}xx` : out.length > 0 ? 'answered, not HTTP' : 'closed without an answer');
    });
    const timer = setTimeout(() => finish('no answer, not closed'), CASE_TIMEOUT_MS);
  });
}

const requests = [];
{
  const rand = prng(SEED + 1);
  for (let i = 0; i < CASES; i++) requests.push(Buffer.from(i % 10 === 0 ? generateRequest(rand) : mutate(generateRequest(rand), rand), 'latin1'));
}
if (SIDES === 'endpoints') {
  log(`endpoints' side: ${JSON.stringify(upstream.counts)}; RSS ${before1.rss} -> ${after1.rss}; fds ${before1.fds} -> ${after1.fds}; alive ${alive1}`);
  qcc.child.kill('SIGTERM');
  process.exit(0);
}
const before2 = await snapshot();
log(`clients' side: ${CASES} requests, 90 % mutated …`);
const t2 = performance.now();
const clients = await run(CASES, (i) => rawCase(requests[i]));
const clientSeconds = (performance.now() - t2) / 1000;
const after2 = await snapshot();
const stillServes2 = (await throughQcc('claude-haiku-4-5-20251001', true)) === 'answered 2xx';
const alive2 = alive(pid);

qcc.child.kill('SIGTERM');
await good.close();
hostile.close();

const mb = (b) => (b / 2 ** 20).toFixed(1);
const table = (counts) =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `| ${k} | ${v} |`)
    .join('\n');
/** qcc before and after one side's cases: alive, memory, open descriptors, and whether it still serves. */
const health = (before, after, alive, serves) => `| | before | after |
|---|---|---|
| qcc alive | yes | ${alive ? 'yes' : '**no: it crashed**'} |
| RSS | ${mb(before.rss)} MB | ${mb(after.rss)} MB |
| open file descriptors (sockets and the rest) | ${before.fds} | ${after.fds} |
| a normal streaming request afterwards | | ${serves ? 'answered 200' : '**failed**'} |`;
/** The unusual cases, each with its bytes (escaped, cut at 300 characters). */
const cases = (list, bytesOf) =>
  list.length === 0
    ? ''
    : `\nCases that need a look (their number with the seed reproduces them):\n\n${list
        .slice(0, 10)
        .map(({ i, kind }) => `- ${kind}, case ${i}: \`${JSON.stringify(bytesOf(i).toString('latin1')).slice(0, 300)}\``)
        .join('\n')}\n`;
const md = `# Fuzz runs

\`node bench/fuzz.mjs\` (after \`npm run build\`): ${CASES} cases each way, seed ${SEED} (responses) and ${SEED + 1}
(requests), ${CONCURRENCY} at a time, each given ${CASE_TIMEOUT_MS / 1000} s. qcc runs as shipped: the built CLI,
\`proxy start --foreground\`, default settings and log level. Generated ${new Date().toISOString().slice(0, 10)}.

## Endpoints' side: a hostile endpoint

Every request for model \`fuzz\` reaches an endpoint that answers with a generated response mutated at the byte
level (\`src/sim/fuzz.ts\`: status, headers, Content-Length / chunked / close framing, then one to three bytes
replaced, deleted or inserted, or a framing-significant string put in), and closes. Half the requests stream.

| how the client's request ended | cases |
|---|---|
${table(upstream.counts)}
${cases(upstream.unusual, (i) => responses[i])}

${health(before1, after1, alive1, stillServes1)}

RSS rises once, as V8 sizes its heap for the burst, and not with the number of cases: measured with
\`SIDES=endpoints\`, +56 MB after 10,000 cases and +63 MB after 30,000 (2026-12-05); open descriptors return to
where they were.

${upstreamSeconds.toFixed(1)} s for ${CASES} cases; the endpoint read ${served} client requests (and ${checks} of qcc's own recovery checks); qcc's request log
has ${logged.requests} requests with ${logged.attempts} attempts (a request is sent again only as a logged attempt, under the
retry budget, or silently when it provably never reached the endpoint). "Answered 5xx" is qcc's own Anthropic-shaped 502 for an answer
it refused (and the endpoint's own 5xx/4xx relayed); "cut after the head" is a stream the endpoint broke after qcc
had committed it, ended with an in-band error event; "no answer" would be a request left hanging.

## Clients' side: hostile requests

Raw connections send a generated Claude Code-style request (1 in 10 as generated, the rest mutated the same way)
and half-close 50 ms later. "Answered 5xx" here is a request whose mutated model no endpoint serves (503).

| what came back | cases |
|---|---|
${table(clients.counts)}
${cases(clients.unusual, (i) => requests[i])}

${health(before2, after2, alive2, stillServes2)}

${clientSeconds.toFixed(1)} s for ${CASES} cases. "Closed without an answer" is a head that never completed before
the client's half-close (nothing to answer, as Node's server does too).
`;
process.stdout.write(md);
writeFileSync(join(ROOT, 'bench/FUZZ.md'), md);
log('written bench/FUZZ.md');
process.exit(alive1 && alive2 && stillServes1 && stillServes2 ? 0 : 1);
