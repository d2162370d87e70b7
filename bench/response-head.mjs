// CPU per upstream response head read by qcc's upstream client (ResponseParser, and the lines it would pass on
// to the client), for one or more builds side by side, rounds interleaved. The head is a JSON answer with the
// real API's headers (bench/api-headers.mjs) plus framing and connection ones: 27 lines, ~1.1 KB; with
// HEADERS=few, only the framing and connection ones, as the simulator sends them (5 lines).
// Usage: node bench/response-head.mjs [DIST...]   (default: dist), e.g. node bench/response-head.mjs OLD_DIST dist
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { API_HEADERS } from './api-headers.mjs';
import { median } from './load.mjs';

const HEADS = 200_000;
const ROUNDS = 7;
const builds = process.argv.length > 2 ? process.argv.slice(2) : ['dist'];
const body = 'x'.repeat(339);
const lines = [
  'content-type: application/json',
  `content-length: ${body.length}`,
  ...(process.env.HEADERS === 'few' ? [] : Object.entries(API_HEADERS).map(([name, value]) => `${name}: ${value}`)),
  'Date: Sat, 28 Nov 2026 21:36:33 GMT',
  'Connection: keep-alive',
  'Keep-Alive: timeout=5',
];
const response = Buffer.from(`HTTP/1.1 200 OK\r\n${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');

/** A parser of this build, and what reading one response costs it: the head, its lines for the client, the body. */
async function reader(dist) {
  const url = (file) => pathToFileURL(resolve(dist, file)).href;
  const { ResponseParser } = await import(url('upstream/response-parser.js'));
  const { forwardedLines, clientResponseHeaders } = await import(url('protocols/anthropic/headers.js'));
  // Builds before ResponseHeaders handed over an object, which the proxy then copied without the hop-by-hop ones.
  const forClient = forwardedLines ? (headers) => forwardedLines(headers).text.length : (headers) => Object.keys(clientResponseHeaders(headers)).length;
  let sink = 0;
  const parser = new ResponseParser({
    onHead: (status, headers) => (sink += status + forClient(headers)),
    onBody: (chunk) => (sink += chunk.length),
    onComplete: () => undefined,
  });
  // The parser may rewrite what it is given (it owns a read): a fresh copy each time, as a socket read would be.
  const reads = Array.from({ length: 64 }, () => Buffer.from(response));
  return () => {
    for (let i = 0; i < HEADS; i++) {
      const read = reads[i & 63];
      read.set(response);
      parser.expect();
      parser.execute(read);
    }
    return sink;
  };
}

const runs = await Promise.all(builds.map(reader));
const times = builds.map(() => []);
for (const run of runs) run(); // warm: every build's code optimised before anything is timed
for (let r = 0; r < ROUNDS; r++) {
  for (let i = 0; i < runs.length; i++) {
    const k = (i + r) % runs.length;
    const before = process.cpuUsage();
    runs[k]();
    const cpu = process.cpuUsage(before);
    times[k].push((cpu.user + cpu.system) / HEADS);
  }
}
// The copy into each read is part of every build's figure.
for (const [k, dist] of builds.entries()) console.log(`${dist.padEnd(24)} ${median(times[k]).toFixed(2)} µs a response (head, lines for the client, 339-byte body)`);
