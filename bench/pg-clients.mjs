// Which PostgreSQL client writes the request log (issue #24): CPU per row of a 250-row batch, node-postgres (`pg`,
// what qcc uses) as one multi-row INSERT and as one INSERT … SELECT FROM unnest(arrays), against postgres.js's row
// helper. For bench/NOTES.md, round 13. `postgres` is not a dependency: `npm i --no-save postgres@3` first.
// Usage: node bench/pg-clients.mjs [postgres://postgres@127.0.0.1:5432/test]
import pg from 'pg';

const URL = process.argv[2] ?? 'postgres://postgres@127.0.0.1:5432/test';
const COLS = 23;
const BATCH = 250;
const BATCHES = 80;
const row = (i) => [Date.now(), `req_${i}`, 'POST', '/v1/messages', 'claude-haiku-4-5', 1, 'sim', '12', 1, 200, 12.5, 40.2, 100, 20, 0, 0, 0.0012, 0, null, 'complete', 11.1, null, 'alice'];
const names = 'ts, request_id, method, path, model, stream, endpoint_id, attempts, attempt_count, status, ttfb_ms, total_ms, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, cost_usd, health_check, error, end_reason, ttfc_ms, hedge, client_key';
const ddl = (t) =>
  `CREATE TABLE ${t} (id bigserial primary key, ts bigint, request_id text, method text, path text, model text, stream int, endpoint_id text, attempts text, attempt_count int, status int, ttfb_ms double precision, total_ms double precision, input_tokens int, output_tokens int, cache_creation_tokens int, cache_read_tokens int, cost_usd double precision, health_check int, error text, end_reason text, ttfc_ms double precision, hedge text, client_key text)`;

async function measure(name, fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const c = process.cpuUsage(c0);
  const rows = BATCH * BATCHES;
  console.log(`${name.padEnd(48)} ${((c.user + c.system) / rows).toFixed(1).padStart(5)} µs CPU per row, ${(performance.now() - t0).toFixed(0)} ms for ${rows} rows`);
}

const pool = new pg.Pool({ connectionString: URL, max: 2 });
await pool.query('DROP TABLE IF EXISTS qcc_bench_pg_clients');
await pool.query(ddl('qcc_bench_pg_clients'));
const tuple = (b) => `(${Array.from({ length: COLS }, (_, j) => `$${b * COLS + j + 1}`).join(',')})`;
const multi = `INSERT INTO qcc_bench_pg_clients (${names}) VALUES ${Array.from({ length: BATCH }, (_, b) => tuple(b)).join(',')}`;
const types = ['bigint', 'text', 'text', 'text', 'text', 'int', 'text', 'text', 'int', 'int', 'float8', 'float8', 'int', 'int', 'int', 'int', 'float8', 'int', 'text', 'text', 'float8', 'text', 'text'];
const unnest = `INSERT INTO qcc_bench_pg_clients (${names}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;
for (let round = 0; round < 2; round++) {
  await measure('pg, multi-row INSERT (prepared)', async () => {
    for (let b = 0; b < BATCHES; b++) await pool.query({ name: 'multi', text: multi, values: Array.from({ length: BATCH }, (_, i) => row(b * BATCH + i)).flat() });
  });
  await measure('pg, INSERT … unnest(column arrays) (qcc)', async () => {
    for (let b = 0; b < BATCHES; b++) {
      const rows = Array.from({ length: BATCH }, (_, i) => row(b * BATCH + i));
      await pool.query({ name: 'unnest', text: unnest, values: types.map((_, j) => rows.map((r) => r[j])) });
    }
  });
  const keys = names.split(', ');
  const json = `INSERT INTO qcc_bench_pg_clients (${names}) SELECT ${names} FROM json_populate_recordset(NULL::qcc_bench_pg_clients, $1)`;
  await measure('pg, INSERT … json_populate_recordset($1: rows as JSON)', async () => {
    for (let b = 0; b < BATCHES; b++) {
      const rows = Array.from({ length: BATCH }, (_, i) => {
        const r = row(b * BATCH + i);
        const o = {};
        for (let j = 0; j < keys.length; j++) o[keys[j]] = r[j];
        return o;
      });
      await pool.query({ name: 'json', text: json, values: [JSON.stringify(rows)] });
    }
  });
  let postgres;
  try {
    postgres = (await import('postgres')).default;
  } catch {
    console.log('postgres.js not installed (npm i --no-save postgres@3): its row left out');
    continue;
  }
  const sql = postgres(URL, { max: 2, onnotice: () => {} });
  await measure('postgres.js, sql`INSERT … ${sql(rows)}`', async () => {
    for (let b = 0; b < BATCHES; b++) {
      const rows = Array.from({ length: BATCH }, (_, i) => Object.fromEntries(keys.map((k, j) => [k, row(b * BATCH + i)[j]])));
      await sql`INSERT INTO qcc_bench_pg_clients ${sql(rows, ...keys)}`;
    }
  });
  await sql.end();
}
await pool.query('DROP TABLE qcc_bench_pg_clients');
await pool.end();
