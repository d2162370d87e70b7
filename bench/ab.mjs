// A/B of proxies or qcc builds, all running at once, rounds interleaved in rotation; medians of CPU per request
// (from /proc) and p50 latency at one connection, small JSON and 50-delta SSE.
// Usage: node bench/ab.mjs TARGET...   where TARGET is a built qcc dist/ directory (e.g. a copy of an older build)
//        or a script that takes the upstream URL and prints "listening on http://…" (bench/bare-passthrough.mjs).
//        ROUND=4000 ROUNDS=8 by default. List a target twice to see how much two processes of one build differ.
//        TARGET@--flag runs it under a Node/V8 flag (e.g. dist@--max-semi-space-size=64), on top of the flags
//        the build ships with (dist/cli/node-flags.js).
//        SCENARIOS=json,sse (default), or any of json, sse, cc (the captured 76 KB Claude Code request, streamed),
//        big (256 KB bodies); the large ones run ROUND/10 requests a round at concurrency 4.
//        Each target after the first also gets the median of its per-round differences from the first.
//        FRESH=1 starts every target anew each round (two processes of one build differ for their whole life).
//        TARGET#keyed sends every request with a client key that has every limit set (bench/qcc-at.mjs).
//        TARGET#stores runs it as a replica (#24): shared state in Redis and the request log in PostgreSQL (this
//        machine's, QCC_REDIS_URL / QCC_DATABASE_URL to use others); TARGET#stores+keyed does both, so every
//        admission is a round trip to Redis.
//        TARGET#bedrock and TARGET#vertex put its two endpoints on the simulated Bedrock (SigV4-signed, the
//        answer's event-stream translated) or Vertex (a bearer token from the simulated token endpoint).
//        HEADERS=api has the simulator answer with the real API's headers too (bench/api-headers.mjs), and
//        CLIENT=cc sends Claude Code's request headers.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cpuMicros, spawnReady } from './procs.mjs';
import { claudeCodeTurns, load, median, messageBody } from './load.mjs';
import { claudeCodeHeaders, simHeaders } from './api-headers.mjs';

const ROUND = Number(process.env.ROUND ?? 4000);
const ROUNDS = Number(process.env.ROUNDS ?? 8);
const here = import.meta.dirname;
const targets = process.argv.slice(2);
if (targets.length === 0) {
  process.stderr.write('usage: node bench/ab.mjs TARGET... (a qcc dist/ directory or a proxy script)\n');
  process.exit(2);
}

// The clouds' test credentials: AWS keys in the environment, a fresh service account whose public half the
// simulator checks JWTs with (its key file is written once the simulator's token URL is known).
const AWS = { accessKeyId: 'AKIAQCCBENCH00000001', secretAccessKey: 'bench/secret/access/key/000000000000000' };
const account = generateKeyPairSync('rsa', { modulusLength: 2048 });
const clientEmail = 'bench@qcc-bench-project.iam.gserviceaccount.com';
const cloud = {
  bedrock: AWS,
  vertex: { project: 'qcc-bench-project', clientEmail, publicKey: account.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
};
const sims = await spawnReady(process.execPath, [join(here, 'sim-process.mjs'), JSON.stringify([{ name: 'fast', behavior: { deltas: 50, ...simHeaders() }, ...cloud }])], /^\{.*\}$/m);
const upstream = JSON.parse(sims.match[0]).fast;
const serviceAccountFile = join(mkdtempSync(join(tmpdir(), 'qcc-ab-sa-')), 'sa.json');
writeFileSync(serviceAccountFile, JSON.stringify({ type: 'service_account', client_email: clientEmail, private_key: account.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), token_uri: `${upstream}/token` }), { mode: 0o600 });
const CLOUD_ENV = {
  AWS_ACCESS_KEY_ID: AWS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: AWS.secretAccessKey,
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_SHARED_CREDENTIALS_FILE: join(tmpdir(), 'qcc-ab-no-aws-credentials'),
  AWS_CONFIG_FILE: join(tmpdir(), 'qcc-ab-no-aws-config'),
  QCC_BENCH_SERVICE_ACCOUNT: serviceAccountFile,
};
/** The client key `#keyed` targets send (any well-formed key: its hash is made from it). */
const BENCH_KEY = `qcc-${'b'.repeat(43)}`;
const spawnTarget = async (t) => {
  // "TARGET@--node-flag@--another" runs the target under those Node/V8 flags; "TARGET#keyed" with a client key.
  const [base, variant = ''] = t.split('#');
  const variants = variant.split('+');
  const keyed = variants.includes('keyed');
  const [path, ...flags] = base.split('@');
  const isBuild = existsSync(path) && statSync(path).isDirectory();
  // A build runs with the Node flags it ships with (`qcc proxy start` gives them; builds before them had none).
  const shipped = isBuild && existsSync(join(path, 'cli/node-flags.js')) ? (await import(pathToFileURL(resolve(path, 'cli/node-flags.js')).href)).PROXY_NODE_FLAGS : [];
  const args = [...shipped, ...flags, ...(isBuild ? [join(here, 'qcc-at.mjs'), resolve(path), upstream] : [resolve(path), upstream])];
  const env = {
    ...(keyed && { QCC_BENCH_KEY: BENCH_KEY }),
    ...((variant === 'bedrock' || variant === 'vertex') && { ...CLOUD_ENV, QCC_BENCH_CLOUD: variant }),
    ...(variants.includes('stores') && { QCC_BENCH_STORES: '1' }),
  };
  return spawnReady(process.execPath, args, /listening on (http:\/\/[\d.]+:\d+)/, { env: { ...process.env, ...env } });
};
const headersFor = (x) => (/#(.*\+)?keyed/.test(x.name) ? { ...clientHeaders, 'x-api-key': BENCH_KEY } : clientHeaders);
const procs = [];
for (const t of targets) procs.push({ name: t, p: await spawnTarget(t) });
// Two processes of one build can differ by several µs per request for as long as they live (where their code
// and heap landed): FRESH=1 starts every target anew for each round, so that bias averages out over rounds.
const FRESH = process.env.FRESH === '1';

const captured = () => JSON.parse(readFileSync(join(here, '../test/fixtures/claude-code-2.1.197-messages-body.json'), 'utf8'));
// CLIENT=cc sends Claude Code's own request headers (the captured first turn's, 21 lines) instead of the usual 3.
const clientHeaders = process.env.CLIENT === 'cc' ? claudeCodeHeaders() : {};
const scenarios = {
  json: { body: () => messageBody('bench'), n: ROUND, concurrency: 8 },
  sse: { body: () => messageBody('bench', { stream: true }), n: ROUND, concurrency: 8 },
  cc: { body: () => claudeCodeTurns(captured(), 'bench'), n: Math.ceil(ROUND / 10), concurrency: 4 },
  big: { body: () => messageBody('bench', { padBytes: 256 * 1024 }), n: Math.ceil(ROUND / 10), concurrency: 4 },
};
for (const name of (process.env.SCENARIOS ?? 'json,sse').split(',')) {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const body = scenario.body();
  const ROUND_N = scenario.n;
  const warm = (x) => load({ url: x.p.match[1], body, n: ROUND_N * Number(process.env.WARM ?? 1), concurrency: scenario.concurrency, headers: headersFor(x) }); // JIT warm-up
  for (const x of procs) await warm(x);
  const cpu = procs.map(() => []);
  const p50 = procs.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    if (FRESH && r > 0) {
      for (const x of procs) {
        x.p.child.kill('SIGKILL');
        x.p = await spawnTarget(x.name);
        await warm(x);
      }
    }
    for (let i = 0; i < procs.length; i++) {
      const k = (i + r) % procs.length;
      const { p } = procs[k];
      const headers = headersFor(procs[k]);
      const before = cpuMicros(p.child.pid);
      const run = await load({ url: p.match[1], body, n: ROUND_N, concurrency: scenario.concurrency, headers });
      if (run.failures > 0) throw new Error(`${procs[k].name}: ${run.failures} requests failed`);
      cpu[k].push((cpuMicros(p.child.pid) - before) / ROUND_N);
      p50[k].push(median((await load({ url: p.match[1], body, n: 300, concurrency: 1, headers })).latencies));
    }
  }
  // Each round measures every target one after another, so a round's figures share the machine's phase: the
  // median of the per-round differences from the first target is steadier than the difference of medians.
  const paired = (k) => median(cpu[k].map((v, r) => v - cpu[0][r]));
  procs.forEach((x, k) => {
    const vsFirst = k === 0 ? '' : `   vs first, paired ${paired(k) >= 0 ? '+' : ''}${paired(k).toFixed(1)}`;
    console.log(`${name.toUpperCase().padEnd(4)}  ${x.name.padEnd(40)} CPU µs/req ${median(cpu[k]).toFixed(0).padStart(4)}   p50 ms ${median(p50[k]).toFixed(3)}${vsFirst}`);
  });
}
for (const x of procs) x.p.child.kill('SIGKILL');
sims.child.kill();
process.exit(0);
