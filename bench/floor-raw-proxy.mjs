// Reference point, not product code and not a usable proxy: HTTP/1.1 written by hand on both sides (net
// sockets, the least parsing that works for the benchmark's traffic, no validation, no timeouts, no errors
// handled). It shows how far below node:http a Node proxy could go by giving up Node's HTTP server entirely.
import { createServer, connect } from 'node:net';

const upstream = new URL(process.argv[2]);
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length']);
const idle = [];

function headersOf(lines) {
  const h = {};
  for (let i = 1; i < lines.length; i++) {
    const c = lines[i].indexOf(':');
    h[lines[i].slice(0, c).toLowerCase()] = lines[i].slice(c + 1).trim();
  }
  return h;
}

function forward(method, path, headers, body, out) {
  let sock = idle.pop();
  if (!sock) {
    sock = connect({ host: upstream.hostname, port: Number(upstream.port), noDelay: true });
    sock.on('data', (d) => sock.onResponseData(d));
    sock.on('error', () => {});
  }
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${upstream.host}\r\n`;
  for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
  sock.cork();
  sock.write(`${head}content-length: ${body.length}\r\n\r\n`, 'latin1');
  sock.write(body);
  sock.uncork();
  let buf = null;
  let state = 'head';
  let remaining = 0;
  const done = () => {
    sock.onResponseData = null;
    idle.push(sock);
    out.end();
  };
  sock.onResponseData = (d) => {
    const pieces = [];
    if (state === 'head') {
      buf = buf ? Buffer.concat([buf, d]) : d;
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const lines = buf.latin1Slice(0, i).split('\r\n');
      const h = headersOf(lines);
      const chunked = h['transfer-encoding'] !== undefined;
      out.start(Number(lines[0].slice(9, 12)), h, chunked);
      d = buf.subarray(i + 4);
      buf = null;
      state = chunked ? 'size' : 'fixed';
      remaining = chunked ? 0 : Number(h['content-length'] ?? 0);
      if (!chunked && remaining === 0) return done();
    }
    if (state === 'fixed') {
      remaining -= d.length;
      if (d.length) out.data(d);
      if (remaining <= 0) done();
      return;
    }
    while (d.length) {
      if (state === 'size') {
        buf = buf ? Buffer.concat([buf, d]) : d;
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        remaining = parseInt(buf.latin1Slice(0, i), 16);
        d = buf.subarray(i + 2);
        buf = null;
        state = remaining === 0 ? 'last' : 'data';
      }
      if (state === 'data') {
        const take = Math.min(remaining, d.length);
        if (take) pieces.push(d.subarray(0, take));
        remaining -= take;
        d = d.subarray(take);
        if (remaining === 0) { state = 'crlf'; remaining = 2; }
      }
      if (state === 'crlf') {
        const t = Math.min(remaining, d.length);
        remaining -= t;
        d = d.subarray(t);
        if (remaining === 0) state = 'size';
      }
      if (state === 'last') {
        if (pieces.length) out.data(Buffer.concat(pieces));
        return done();
      }
    }
    if (pieces.length) out.data(Buffer.concat(pieces));
  };
}

const server = createServer({ noDelay: true }, (sock) => {
  let buf = null;
  let need = -1;
  let method;
  let path;
  let headers;
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = buf ? Buffer.concat([buf, d]) : d;
    if (need < 0) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      const lines = buf.latin1Slice(0, i).split('\r\n');
      [method, path] = lines[0].split(' ');
      headers = headersOf(lines);
      need = Number(headers['content-length'] ?? 0);
      buf = buf.subarray(i + 4);
    }
    if (buf.length < need) return;
    const body = buf.subarray(0, need);
    buf = null;
    need = -1;
    const fwd = {};
    for (const k in headers) if (!HOP.has(k)) fwd[k] = headers[k];
    let chunked = false;
    forward(method, path, fwd, body, {
      start(status, h, isChunked) {
        chunked = isChunked;
        let head = `HTTP/1.1 ${status} OK\r\n`;
        for (const k in h) if (!HOP.has(k) || k === 'content-length') head += `${k}: ${h[k]}\r\n`;
        if (chunked) head += 'transfer-encoding: chunked\r\n';
        sock.cork();
        sock.write(`${head}\r\n`, 'latin1');
        process.nextTick(() => sock.uncork());
      },
      data(c) {
        if (!chunked) return void sock.write(c);
        sock.cork();
        sock.write(`${c.length.toString(16)}\r\n`, 'latin1');
        sock.write(c);
        sock.write('\r\n', 'latin1');
        sock.uncork();
      },
      end() {
        if (chunked) sock.write('0\r\n\r\n', 'latin1');
      },
    });
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGINT', () => process.exit(0));
