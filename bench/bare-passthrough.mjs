// Reference point, not product code: the least a Node proxy can do — node:http in, undici dispatch out, bytes
// piped back with backpressure, nothing else (no parsing, no balancing, no stats). qcc is compared with it.
import { createServer } from 'node:http';
import { Agent } from 'undici';

const upstream = new URL(process.argv[2]);
const agent = new Agent({ keepAliveTimeout: 30_000 });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const headers = {};
    for (const k in req.headers) if (!HOP.has(k)) headers[k] = req.headers[k];
    headers['content-length'] = String(body.length);
    let controller;
    agent.dispatch(
      { origin: upstream.origin, path: req.url, method: req.method, headers, body },
      {
        onRequestStart(c) { controller = c; },
        onResponseStart(_c, status, h) {
          const out = {};
          for (const k in h) if (!HOP.has(k) || k === 'content-length') out[k] = h[k];
          res.writeHead(status, out);
        },
        onResponseData(_c, chunk) {
          if (!res.write(chunk)) { controller.pause(); res.once('drain', () => controller.resume()); }
        },
        onResponseEnd() { res.end(); },
        onResponseError() { res.destroy(); },
      },
    );
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGINT', () => process.exit(0));
