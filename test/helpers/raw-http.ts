import type { IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';

/** HTTP/1.1 by hand, for tests that need exact bytes: pipelining, half-close, keep-alive on one socket. */

/** A raw connection: write bytes, read everything that comes back. */
export function raw(port: number): Promise<{ socket: Socket; text: () => string; closed: Promise<void>; ended: () => boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => resolve({ socket, text: () => out, closed, ended: () => ended }));
    let out = '';
    let ended = false;
    socket.on('data', (d: Buffer) => (out += d.toString('latin1')));
    socket.on('end', () => (ended = true));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
  });
}

/** Responses in a raw byte string: status, headers (lower-cased), body (chunked framing removed). */
export function responses(text: string): { status: number; headers: IncomingHttpHeaders; body: string }[] {
  const out: { status: number; headers: IncomingHttpHeaders; body: string }[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end === -1) break;
    const lines = text.slice(at, end).split('\r\n');
    const headers: IncomingHttpHeaders = {};
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
    }
    let body = '';
    at = end + 4;
    const status = Number(lines[0]!.split(' ')[1]);
    if (status === 204 || status === 304) {
      // no body, whatever the headers say
    } else if (headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const eol = text.indexOf('\r\n', at);
        const size = eol === -1 ? NaN : parseInt(text.slice(at, eol), 16);
        // Not all here yet (a stream still arriving): the response is not complete.
        if (Number.isNaN(size) || text.length < eol + 2 + size + 2) return out;
        at = eol + 2;
        if (size === 0) {
          at += 2;
          break;
        }
        body += text.slice(at, at + size);
        at += size + 2;
      }
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      body = text.slice(at, at + n);
      at += n;
    } else {
      body = text.slice(at); // delimited by the end of the connection
      at = text.length;
    }
    out.push({ status, headers, body });
  }
  return out;
}

