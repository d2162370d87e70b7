// What a client key's admission and settlement cost this process, in isolation: the lone qcc's limiter
// (src/keys/limiter.ts) against a replica's (src/cluster/shared-limiter.ts: the same, plus leases from Redis and
// batched settlements), on this machine's Redis. Each request is admitted, waits `HOLD_MS` (as a request in flight
// would: settlements then batch as they do under load), and is settled; CONCURRENCY requests at a time. CPU of this
// process per request (user + system: node-redis, the socket and the kernel's loopback work included), medians of
// ROUNDS rounds. The whole-proxy figures (bench/stores.mjs) carry ±10–20 µs of noise between processes; this
// measures the limiter's share alone to within about a microsecond.
// Usage: node bench/limiter.mjs [ROUNDS=5 N=40000 CONCURRENCY=1,8 HOLD_MS=0.3]  (QCC_REDIS_URL for another Redis)
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const dist = (p) => import(pathToFileURL(join(import.meta.dirname, '../dist', p)).href);
const { KeyLimiter } = await dist('keys/limiter.js');
const { SharedLimiter } = await dist('cluster/shared-limiter.js');
const { RedisLink } = await dist('cluster/redis-link.js');
const { createLogger } = await dist('log.js');

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const N = Number(process.env.N ?? 40_000);
const CONCURRENCY = (process.env.CONCURRENCY ?? '1,8').split(',').map(Number);
const HOLD_MS = Number(process.env.HOLD_MS ?? 0.3);
const logger = createLogger('warn');
const key = { name: 'bench', hash: 'x', prefix: 'qcc-bbbbbb', created_at: new Date().toISOString(), rpm: 100_000_000, tpm: 1e15, budget: { usd: 1e9, per: 'month' }, models: ['bench*'] };
const facts = { model: 'bench', messages: true, bodyBytes: 120, maxTokens: 64 };
const link = new RedisLink({ url: process.env.QCC_REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: `qcc-bench-limiter-${process.pid}`, timeoutMs: 50, replicaId: 'bench' }, logger);
if (!(await link.start(3_000))) throw new Error('Redis unreachable');
const lone = new KeyLimiter();
const shared = new SharedLimiter(link, new KeyLimiter(), logger);

async function run(limiter, concurrency) {
  let next = 0;
  let refused = 0;
  const worker = async () => {
    while (next++ < N) {
      const verdict = await limiter.admit(key, facts, Date.now());
      if ('reason' in verdict) refused++;
      else {
        await sleep(HOLD_MS);
        limiter.settle(verdict, 150, 0.0001, Date.now());
      }
    }
  };
  // Idle time is not CPU: what is measured is the work, however long the waits.
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const c = process.cpuUsage(c0);
  if (refused > 0) throw new Error(`${refused} refused`);
  return (c.user + c.system) / N;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
for (const concurrency of CONCURRENCY) {
  const r = { lone: [], shared: [] };
  await run(lone, concurrency);
  await run(shared, concurrency); // warm-up: JIT, the script loaded in Redis, the first leases
  for (let i = 0; i < ROUNDS; i++) {
    r.lone.push(await run(lone, concurrency));
    r.shared.push(await run(shared, concurrency));
  }
  const { asked, leased, refills, givenBack } = shared.admissions;
  const total = asked + leased;
  console.log(
    `concurrency ${concurrency}: lone limiter ${median(r.lone).toFixed(2)} µs/req, shared ${median(r.shared).toFixed(2)} µs/req ` +
      `(+${(median(r.shared) - median(r.lone)).toFixed(2)}); per 1,000 admissions: ${((1000 * (asked + refills)) / total).toFixed(1)} ADMIT calls, ` +
      `${((1000 * givenBack) / total).toFixed(1)} given back`,
  );
  for (const k of Object.keys(shared.admissions)) shared.admissions[k] = 0;
}
shared.close();
await sleep(100);
await link.command(['EVAL', "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end return 1", '0', `qcc-bench-limiter-${process.pid}:*`], 2_000);
await link.close();
process.exit(0);
