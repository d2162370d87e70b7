// The request log's cost per row, for one or more qcc builds side by side: rows made by the build's own toRow()
// from request records like the proxy's (one clean attempt for most, a failover or an error now and then),
// written by its StatsStore in batches of 1,000 (as the recorder flushes them) into a fresh SQLite file each.
// Usage: node bench/request-log.mjs [DIST...]   (default: dist). ROWS=200000 ROUNDS=3.
// Prints CPU µs per row for the insert (this process: SQLite runs in it) and for making the row, and the file's
// bytes per row.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './load.mjs';

const ROWS = Number(process.env.ROWS ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BATCH = 1_000;
const builds = process.argv.length > 2 ? process.argv.slice(2) : ['dist'];

const load = async (dist) => {
  const at = (p) => import(pathToFileURL(resolve(dist, p)).href);
  const [{ StatsStore }, { toRow }, { PriceTable }] = await Promise.all([at('stats/store.js'), at('stats/recorder.js'), at('stats/pricing.js')]);
  return { dist, StatsStore, toRow, prices: new PriceTable() };
};

/** Request record number i, as the proxy makes them: ~1 in 50 failed over, ~1 in 200 an error. */
function record(i, start) {
  const endpointId = i % 2 ? 'relay-a' : 'official';
  const ms = 300 + (i % 997) * 1.7;
  const attempts = i % 50 === 0
    ? [{ endpointId: 'relay-b', status: 529, ms: 12.3, error: 'overloaded', penalty: 'overloaded' }, { endpointId, status: 200, ms }]
    : i % 200 === 1 ? [{ endpointId, ms: 1.2, error: 'connect', penalty: 'connect' }] : [{ endpointId, status: 200, ms }];
  const failed = attempts.at(-1).status === undefined;
  return {
    requestId: `req_qcc_62e6c924db43f02f${String(i).padStart(6, '0')}`, startedAt: start + i * 10, method: 'POST', path: '/v1/messages',
    model: 'claude-sonnet-4-5-20250929', stream: i % 3 !== 0, sessionId: undefined, endpointId: failed ? undefined : endpointId, attempts,
    status: failed ? 502 : 200, ttfbMs: failed ? undefined : 250 + (i % 89), totalMs: ms + 0.4, end: failed ? undefined : 'complete',
    errorCode: failed ? 'all_endpoints_failed' : undefined,
    usage: failed ? undefined : { input_tokens: 12 + (i % 40), output_tokens: 300 + (i % 700), cache_creation_input_tokens: i % 7 ? 0 : 2048, cache_read_input_tokens: 30_000 + i },
  };
}

function run(b) {
  const dir = mkdtempSync(join(tmpdir(), 'qcc-rows-'));
  const store = new b.StatsStore(join(dir, 'stats.db'));
  const start = Date.now();
  const records = Array.from({ length: ROWS }, (_, i) => record(i, start));
  const t0 = process.cpuUsage();
  const rows = records.map((r) => b.toRow(r, b.prices));
  const rowCpu = process.cpuUsage(t0);
  for (let i = 0; i < 20 * BATCH; i += BATCH) store.insertMany(rows.slice(i, i + BATCH)); // warm-up
  const before = process.cpuUsage();
  for (let i = 20 * BATCH; i < ROWS; i += BATCH) store.insertMany(rows.slice(i, i + BATCH));
  const cpu = process.cpuUsage(before);
  const bytes = (store.db.pragma('page_count', { simple: true }) * store.db.pragma('page_size', { simple: true })) / ROWS;
  store.close();
  rmSync(dir, { recursive: true, force: true });
  return { us: (cpu.user + cpu.system) / (ROWS - 20 * BATCH), rowUs: (rowCpu.user + rowCpu.system) / ROWS, bytes };
}

const loaded = [];
for (const d of builds) loaded.push(await load(d));
const results = loaded.map(() => []);
for (let r = 0; r < ROUNDS; r++) loaded.forEach((b, k) => results[k].push(run(b)));

loaded.forEach((b, k) => {
  const us = results[k].map((x) => x.us);
  const made = median(results[k].map((x) => x.rowUs));
  console.log(`${b.dist.padEnd(24)} insert µs/row ${median(us).toFixed(2)} (${us.map((x) => x.toFixed(2)).join(', ')})   toRow µs/row ${made.toFixed(2)}   bytes/row ${median(results[k].map((x) => x.bytes)).toFixed(0)}`);
});
