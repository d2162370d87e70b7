// CPU per streamed event written by qcc's front server (FrontResponse), each event in its own task as a model's tokens
// arrive, for one or more builds side by side, rounds interleaved. Usage: node bench/event-write.mjs OLD_DIST dist
// The reader is in this process too, the same for every build.
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const builds = process.argv.slice(2);
const EVENTS = 20000;
const event = Buffer.from('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello world "}}\n\n');
async function serverOf(dist) {
  const { FrontServer } = await import(pathToFileURL(resolve(dist, 'server/front-server.js')).href);
  const front = new FrontServer({
    fallback: createServer(), maxBodyBytes: () => 1e6, keepAliveMs: 5000, headersTimeoutMs: 5000,
    onRequest: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const c0 = process.cpuUsage();
      const next = () => { if (++n < EVENTS) { res.write(event); setImmediate(next); } else { res.end(event); const c = process.cpuUsage(c0); front.last = (c.user + c.system) / EVENTS; } };
      next();
    },
  });
  await new Promise((r) => front.server.listen(0, '127.0.0.1', r));
  return front;
}
// the idle loop's own cost (setImmediate per event), to subtract
async function loopOnly() { return new Promise((done) => { let n = 0; const c0 = process.cpuUsage(); const next = () => { if (++n < EVENTS) setImmediate(next); else { const c = process.cpuUsage(c0); done((c.user + c.system) / EVENTS); } }; next(); }); }
const fronts = [];
for (const b of builds) fronts.push(await serverOf(b));
const res = builds.map(() => []);
const base = [];
for (let r = 0; r < 7; r++) {
  base.push(await loopOnly());
  for (let k = 0; k < fronts.length; k++) {
    const f = fronts[k];
    f.last = undefined;
    await new Promise((done) => { const s = connect(f.server.address().port, '127.0.0.1', () => s.write('POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}')); s.on('data', (d) => { if (d.includes('\r\n0\r\n\r\n')) { s.destroy(); done(); } }); });
    res[k].push(f.last);
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
console.log('setImmediate loop alone', med(base).toFixed(2), 'µs');
builds.forEach((b, k) => console.log(b.padEnd(14), 'µs per event', med(res[k]).toFixed(2), ' (', res[k].map((x) => x.toFixed(2)).join(' '), ')'));
process.exit(0);
