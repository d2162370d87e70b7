// CPU per streamed event written by qcc's front server (FrontResponse), each event in its own task as a model's
// tokens arrive, for one or more builds side by side, rounds interleaved.
// Usage: node bench/event-write.mjs [DIST...]   (default: dist), e.g. node bench/event-write.mjs OLD_DIST dist
// The reader is in this process too, the same for every build; the cost of the setImmediate loop that spaces the
// events out is printed on its own line (it is included in every build's figure).
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './load.mjs';

const EVENTS = 20_000;
const ROUNDS = 7;
const builds = process.argv.length > 2 ? process.argv.slice(2) : ['dist'];
const event = Buffer.from('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello world "}}\n\n');

/** CPU µs of `EVENTS` turns of a setImmediate loop that calls `each` on every turn but the last, then `last`. */
function timedLoop(each, last) {
  return new Promise((done) => {
    let n = 0;
    const before = process.cpuUsage();
    const next = () => {
      if (++n < EVENTS) {
        each();
        setImmediate(next);
        return;
      }
      last();
      const cpu = process.cpuUsage(before);
      done((cpu.user + cpu.system) / EVENTS);
    };
    next();
  });
}

/** A front server of `dist` whose every response is EVENTS events, one per task; `measured` is its last cost. */
async function serverOf(dist) {
  const { FrontServer } = await import(pathToFileURL(resolve(dist, 'server/front-server.js')).href);
  const target = { dist, measured: Promise.resolve(NaN), port: 0 };
  const front = new FrontServer({
    fallback: createServer(),
    maxBodyBytes: () => 1e6,
    keepAliveMs: 5000,
    headersTimeoutMs: 5000,
    onRequest: (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      target.measured = timedLoop(() => res.write(event), () => res.end(event));
    },
  });
  await new Promise((r) => front.server.listen(0, '127.0.0.1', r));
  target.port = front.server.address().port;
  return target;
}

/** One streamed response from `port`, read to its last chunk. */
function readOne(port) {
  return new Promise((done) => {
    let tail = '';
    const socket = connect(port, '127.0.0.1', () => socket.write('POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}'));
    socket.on('data', (d) => {
      tail = (tail + d.toString('latin1')).slice(-16);
      if (tail.endsWith('\r\n0\r\n\r\n')) {
        socket.destroy();
        done();
      }
    });
  });
}

const targets = [];
for (const dist of builds) targets.push(await serverOf(dist));
const perEvent = targets.map(() => []);
const loopAlone = [];
for (let r = 0; r < ROUNDS; r++) {
  loopAlone.push(await timedLoop(() => {}, () => {}));
  for (const [k, t] of targets.entries()) {
    await readOne(t.port);
    perEvent[k].push(await t.measured);
  }
}
console.log('setImmediate loop alone', median(loopAlone).toFixed(2), 'µs');
for (const [k, t] of targets.entries()) {
  console.log(t.dist.padEnd(14), 'µs per event', median(perEvent[k]).toFixed(2), ' (', perEvent[k].map((x) => x.toFixed(2)).join(' '), ')');
}
process.exit(0);
