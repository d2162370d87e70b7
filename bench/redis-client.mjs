// What one sequential round trip to Redis costs this process, through node-redis (as qcc sends it) and through a
// bare socket writing RESP by hand (the floor: a write, a wake-up, a read). For bench/NOTES.md, round 13.
// Usage: node bench/redis-client.mjs [redis://127.0.0.1:6379]
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { createClient } from 'redis';

const url = new URL(process.argv[2] ?? 'redis://127.0.0.1:6379');
const N = 20_000;
const src = "return {'ok', '1'}";
const sha = createHash('sha1').update(src).digest('hex');

async function run(name, fn) {
  for (let i = 0; i < 2_000; i++) await fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  const cpu = process.cpuUsage(c0);
  const ms = performance.now() - t0;
  console.log(`${name.padEnd(44)} ${((cpu.user + cpu.system) / N).toFixed(1).padStart(6)} µs CPU  ${((ms * 1000) / N).toFixed(1).padStart(6)} µs wall  per call`);
}

const client = createClient({ url: url.href, disableOfflineQueue: true });
await client.connect();
await client.sendCommand(['SCRIPT', 'LOAD', src]);
await run('node-redis EVALSHA', () => client.sendCommand(['EVALSHA', sha, '0']));
await run('node-redis EVALSHA, timeout + rejectInFlight', () => client.sendCommand(['EVALSHA', sha, '0'], { timeout: 50, rejectInFlight: true }));
await run('node-redis PING', () => client.sendCommand(['PING']));
await client.close();

const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
socket.setNoDelay(true);
await new Promise((resolve) => socket.once('connect', resolve));
let waiting;
socket.on('data', () => waiting?.());
const raw = (args) => {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return new Promise((resolve) => {
    waiting = resolve;
    socket.write(out);
  });
};
await run('bare socket EVALSHA (no parsing: the floor)', () => raw(['EVALSHA', sha, '0']));
await run('bare socket PING', () => raw(['PING']));
socket.destroy();
