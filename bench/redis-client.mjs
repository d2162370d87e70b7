import { createClient } from 'redis';
import { createHash } from 'node:crypto';
const c = createClient({ url: 'redis://127.0.0.1:6379', disableOfflineQueue: true });
await c.connect();
const src = "return {'ok', '1'}";
const sha = createHash('sha1').update(src).digest('hex');
await c.sendCommand(['SCRIPT', 'LOAD', src]);
async function run(name, fn, n = 20000) {
  for (let i = 0; i < 2000; i++) await fn();
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const cpu = process.cpuUsage(c0); const ms = performance.now() - t0;
  console.log(`${name}: ${((cpu.user + cpu.system) / n).toFixed(1)} µs CPU, ${(ms * 1000 / n).toFixed(1)} µs wall per call`);
}
await run('EVALSHA no options', () => c.sendCommand(['EVALSHA', sha, '0']));
await run('EVALSHA timeout+rejectInFlight', () => c.sendCommand(['EVALSHA', sha, '0'], { timeout: 50, rejectInFlight: true }));
await run('PING', () => c.sendCommand(['PING']));
await c.close();
