// Starts a qcc build in this process (so its CPU is this process's): argv[2] a built dist/ directory, argv[3] the
// upstream URL. Two endpoints on that upstream, everything else as shipped. For bench/ab.mjs, which starts this
// script with the Node flags the build ships with (dist/cli/node-flags.js), as `qcc proxy start` would.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

const [dist, upstream] = process.argv.slice(2);
const flagsModule = join(resolve(dist), 'cli/node-flags.js');
if (existsSync(flagsModule)) {
  const { PROXY_NODE_FLAGS, hasProxyNodeFlags } = await import(pathToFileURL(flagsModule).href);
  // Without them the CLI would start itself again in a child, and this process would measure a launcher.
  if (!hasProxyNodeFlags()) throw new Error(`run this with the build's Node flags: node ${PROXY_NODE_FLAGS.join(' ')} ${process.argv.slice(1).join(' ')}`);
}
const home = mkdtempSync(join(tmpdir(), 'qcc-ab-'));
const config = { version: 1, endpoints: [{ id: 'a', base_url: upstream }, { id: 'b', base_url: upstream }] };
// QCC_BENCH_CLOUD=bedrock|vertex: the same two endpoints as simulated cloud endpoints (credentials from bench/ab.mjs).
const cloud = process.env.QCC_BENCH_CLOUD;
if (cloud === 'bedrock') {
  for (const e of config.endpoints) Object.assign(e, { protocol: 'bedrock', bedrock: { region: 'us-east-1' }, model_map: { bench: 'anthropic.claude-bench-v1:0' } });
} else if (cloud === 'vertex') {
  const vertex = { project: 'qcc-bench-project', region: 'us-east5', credentials_file: process.env.QCC_BENCH_SERVICE_ACCOUNT };
  for (const e of config.endpoints) Object.assign(e, { protocol: 'vertex', vertex, model_map: { bench: 'claude-bench' } });
}
// QCC_BENCH_KEY: requests carry this client key, which has every limit set (none of them reached), so the figures
// are a keyed request's cost: identification, admission under rpm, tpm, budget, model and endpoint allowlists, settlement.
const benchKey = process.env.QCC_BENCH_KEY;
if (benchKey) {
  process.env.QCC_KEY_PEPPER = 'bench-pepper-bench-pepper-bench-pepper';
  const { keyHash } = await import(pathToFileURL(join(resolve(dist), 'keys/secret.js')).href);
  config.client_keys = [{
    name: 'bench', hash: keyHash(benchKey, Buffer.from(process.env.QCC_KEY_PEPPER)), prefix: benchKey.slice(0, 10), created_at: new Date().toISOString(),
    rpm: 100_000_000, tpm: 1e15, budget: { usd: 1e9, per: 'month' }, models: ['bench*'], endpoints: ['a', 'b'],
    expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  }];
}
// QCC_BENCH_STORES=1: a replica of a deployment (#24): shared state in Redis, the request log in PostgreSQL.
// `redis` or `postgres`: that store only (the other stays embedded), to tell their costs apart.
const stores = process.env.QCC_BENCH_STORES;
if (stores === '1' || stores === 'redis') {
  config.state = { backend: 'redis', redis_url: process.env.QCC_REDIS_URL ?? 'redis://127.0.0.1:6379', key_prefix: `qcc-bench-${process.pid}` };
}
// Each target a replica of its own: a deployment's replicas have distinct names, and a starting replica reads its
// own last minutes of the log (not those of every benchmark process before it, all on this host's name).
if (stores) process.env.QCC_REPLICA_ID ??= `bench-${process.pid}`;
if (stores === '1' || stores === 'postgres') {
  config.stats = { backend: 'postgres', postgres_url: process.env.QCC_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', postgres_schema: 'qcc_bench' };
}
writeFileSync(join(home, 'config.json'), JSON.stringify(config));
process.env.QCC_HOME = home;
process.argv = [process.argv[0], 'qcc', 'proxy', 'start', '--foreground', '--port', '0', '--log-level', 'warn'];
await import(pathToFileURL(join(resolve(dist), 'cli/main.js')).href);
