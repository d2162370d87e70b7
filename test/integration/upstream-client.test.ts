import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { failureOf } from '../../src/protocols/contract.js';
import { UpstreamClient, type ExchangeController, type UpstreamRequest } from '../../src/upstream/client.js';
import { requestResponse } from '../../src/upstream/request.js';
import { eventually, sleep } from '../helpers/servers.js';

const TLS_CERT = readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url));
const TLS_KEY = readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url));

interface Outcome {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
  error?: Error & { code?: string; beforeWrite?: boolean };
  ended: boolean;
  callbacks: string[];
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(opts: ConstructorParameters<typeof UpstreamClient>[0] = {}): UpstreamClient {
  const c = new UpstreamClient(opts);
  cleanups.push(() => c.destroy());
  return c;
}

async function listen(server: Server | ReturnType<typeof createNetServer>): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A node:http server, counting the connections it accepted; `handle` answers each request. */
async function httpServer(handle: Parameters<typeof createHttpServer>[1]): Promise<{ origin: string; connections: () => number; server: Server }> {
  const server = createHttpServer(handle);
  let connections = 0;
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const origin = `http://${await listen(server)}`;
  // Registered after listen, so it runs first: server.close() waits for open connections.
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  return { origin, connections: () => connections, server };
}

/** A raw TCP server, for answers node:http would never send; `onRequest` gets each socket's first bytes. */
async function rawServer(onData: (socket: Socket, data: string) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => onData(s, d.toString('latin1')));
  });
  const origin = `http://${await listen(server)}`;
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
  });
  return origin;
}

function send(c: UpstreamClient, req: Partial<UpstreamRequest> & { origin: string }, hooks: { onStart?: (ctl: ExchangeController) => void; onData?: (ctl: ExchangeController, chunk: Buffer) => void } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: Buffer.alloc(0), ended: false, callbacks: [] };
    // Chunks are kept as handed over and joined at the end, as a consumer that queues them would: a chunk that
    // changed after it was handed over would show.
    const chunks: Buffer[] = [];
    const settle = () => {
      out.body = Buffer.concat(chunks);
      resolve(out);
    };
    c.dispatch(
      { path: '/v1/messages', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}'), ...req },
      {
        onRequestStart(ctl) {
          out.callbacks.push('start');
          hooks.onStart?.(ctl);
        },
        onResponseStart(_ctl, status, headers) {
          out.callbacks.push('head');
          out.status = status;
          out.headers = headers.object;
        },
        onResponseData(ctl, chunk) {
          chunks.push(chunk);
          hooks.onData?.(ctl, chunk);
        },
        onResponseEnd() {
          out.callbacks.push('end');
          out.ended = true;
          settle();
        },
        onResponseError(_ctl, err) {
          out.callbacks.push('error');
          out.error = err;
          settle();
        },
      },
    );
  });
}

describe('upstream HTTP/1.1 client', () => {
  it('sends the request byte for byte and returns status, headers and body', async () => {
    let seen: { method?: string; url?: string; headers?: IncomingHttpHeaders; body?: Buffer } = {};
    const up = await httpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
        res.writeHead(201, { 'content-type': 'application/json', 'x-multi': ['a', 'b'], 'set-cookie': ['k=1', 'l=2'] });
        res.end('{"ok":true}');
      });
    });
    const body = Buffer.from([0, 1, 2, 255, 0x0d, 0x0a, 0x7b]);
    const out = await send(client(), {
      origin: up.origin,
      path: '/prefix/v1/messages?beta=true&x=%2F',
      headers: { 'x-api-key': 'k', 'anthropic-beta': ['a', 'b'], 'x-latin1': 'caf\u00e9', 'content-length': '999', host: 'evil', connection: 'close' },
      body,
    });
    expect(out.error).toBeUndefined();
    expect(out.callbacks).toEqual(['start', 'head', 'end']);
    expect(out.status).toBe(201);
    expect(out.headers).toMatchObject({ 'content-type': 'application/json', 'x-multi': 'a, b', 'set-cookie': ['k=1', 'l=2'] });
    expect(out.body.toString()).toBe('{"ok":true}');
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/prefix/v1/messages?beta=true&x=%2F');
    expect(seen.body).toEqual(body);
    // Framing headers are the client's own: the caller's content-length, host and connection never go out.
    expect(seen.headers).toMatchObject({ 'x-api-key': 'k', 'anthropic-beta': 'a, b', 'x-latin1': 'caf\u00e9', 'content-length': String(body.length), host: up.origin.slice(7) });
    expect(seen.headers?.connection).not.toBe('close');
  });

  it('reuses one keep-alive connection for sequential requests and opens more only for concurrent ones', async () => {
    const up = await httpServer((_req, res) => res.end('ok'));
    const c = client();
    for (let i = 0; i < 20; i++) expect((await send(c, { origin: up.origin })).body.toString()).toBe('ok');
    expect(up.connections()).toBe(1);
    const parallel = await Promise.all(Array.from({ length: 8 }, () => send(c, { origin: up.origin })));
    expect(parallel.every((o) => o.ended)).toBe(true);
    expect(up.connections()).toBeLessThanOrEqual(8);
    const before = up.connections();
    await Promise.all(Array.from({ length: 8 }, () => send(c, { origin: up.origin })));
    expect(up.connections()).toBe(before); // all eight came back to the pool and were used again
  });

  it('drops an idle connection before the upstream announced it would (Keep-Alive: timeout)', async () => {
    const up = await httpServer((_req, res) => res.end('ok'));
    up.server.keepAliveTimeout = 1_500; // Node sends "Keep-Alive: timeout=1": qcc's limit becomes 0 s, so never reused
    const c = client();
    await send(c, { origin: up.origin });
    await send(c, { origin: up.origin });
    expect(up.connections()).toBe(2);
    up.server.keepAliveTimeout = 3_000; // "timeout=3": reused within 2 s
    await send(c, { origin: up.origin });
    await send(c, { origin: up.origin });
    expect(up.connections()).toBe(3);
  });

  it('never re-sends a POST the endpoint read and then dropped on a reused connection: that is a failure, not a retry', async () => {
    let received = 0;
    const origin = await rawServer((socket) => {
      received++;
      const seen = ((socket as Socket & { seen?: number }).seen = ((socket as Socket & { seen?: number }).seen ?? 0) + 1);
      // The second request on a connection is read whole, then the connection is closed without an answer: the
      // endpoint may be generating it. Sending it again would be a second generation nobody sees.
      if (seen > 1) return void socket.destroy();
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const c = client();
    expect((await send(c, { origin })).body.toString()).toBe('ok');
    const again = await send(c, { origin });
    expect(again.error?.beforeWrite).toBeFalsy();
    expect(failureOf(again.error!)).toBe('reset');
    await sleep(50);
    expect(received).toBe(2);
  });

  it('a connection the endpoint closed while it was idle is never used again: the next request opens a fresh one', async () => {
    let received = 0;
    const origin = await rawServer((socket) => {
      received++;
      // Answers, then closes the connection a moment later without saying so (its keep-alive ran out).
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', () => setTimeout(() => socket.end(), 10));
    });
    const c = client();
    expect((await send(c, { origin })).body.toString()).toBe('ok');
    await sleep(60);
    const again = await send(c, { origin });
    expect(again.error).toBeUndefined();
    expect(again.body.toString()).toBe('ok');
    expect(received).toBe(2);
  });

  it('does not resend on a fresh connection that closes without answering (that is a real failure)', async () => {
    let received = 0;
    const origin = await rawServer((socket) => {
      received++;
      socket.destroy();
    });
    const out = await send(client(), { origin });
    expect(out.error?.code).toBe('QCC_UPSTREAM_CLOSED');
    expect(failureOf(out.error!)).toBe('reset');
    expect(received).toBe(1);
  });

  it('never reuses a connection whose request was still being sent when the answer came (an early 413)', async () => {
    const origin = await rawServer((socket, data) => {
      const state = socket as Socket & { answered?: boolean };
      if (state.answered) return;
      state.answered = true;
      if (data.startsWith('POST /first')) {
        socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\nno');
        socket.pause(); // stop reading: the rest of the body stays unsent on the client's side
      } else {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
    const c = client();
    const early = await send(c, { origin, path: '/first', body: Buffer.alloc(32 * 1024 * 1024, 'x') });
    expect(early.status).toBe(413);
    // Reused, this request would queue behind 32 MB the upstream is not reading, and time out.
    const next = await send(c, { origin, path: '/second', headersTimeout: 2_000 });
    expect(next.error).toBeUndefined();
    expect(next.body.toString()).toBe('ok');
  });

  it('reports a refused connection as never written (safe to fail over)', async () => {
    const probe = createNetServer();
    const addr = await listen(probe);
    await new Promise<void>((r) => probe.close(() => r()));
    const out = await send(client(), { origin: `http://${addr}` });
    expect(out.error?.beforeWrite).toBe(true);
    expect(failureOf(out.error!)).toBe('connect');
    expect(out.callbacks).toEqual(['start', 'error']);
  });

  it('times out a connection that never completes its TLS handshake, as a connect failure', async () => {
    const origin = await rawServer(() => undefined); // accepts TCP, never answers the ClientHello
    const out = await send(client({ connectTimeoutMs: 150 }), { origin: origin.replace('http:', 'https:') });
    expect(out.error?.code).toBe('QCC_CONNECT_TIMEOUT');
    expect(failureOf(out.error!)).toBe('connect');
  });

  it('times out the first byte and an idle body separately', async () => {
    const up = await httpServer((req, res) => {
      if (req.url === '/silent') return; // never answers
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\ndata: {}\n\n'); // then goes quiet
    });
    const c = client();
    const silent = await send(c, { origin: up.origin, path: '/silent', headersTimeout: 100 });
    expect(silent.error?.code).toBe('QCC_HEADERS_TIMEOUT');
    expect(failureOf(silent.error!)).toBe('first-byte-timeout');
    const idle = await send(c, { origin: up.origin, path: '/idle', headersTimeout: 1_000, bodyTimeout: 100 });
    expect(idle.status).toBe(200);
    expect(idle.body.toString()).toBe('event: ping\ndata: {}\n\n');
    expect(idle.error?.code).toBe('QCC_BODY_TIMEOUT');
  });

  it('reports a connection cut mid-response and never reuses it', async () => {
    const origin = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial');
      setTimeout(() => socket.destroy(), 10);
    });
    const out = await send(client(), { origin });
    expect(out.status).toBe(200);
    expect(out.body.toString()).toBe('partial');
    expect(out.error?.code).toBe('QCC_UPSTREAM_CLOSED');
    expect(failureOf(out.error!)).toBe('reset');
  });

  it('reads a response framed by the end of the connection', async () => {
    const origin = await rawServer((socket) => {
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\nevent: message_stop\ndata: {}\n\n');
    });
    const out = await send(client(), { origin });
    expect(out.error).toBeUndefined();
    expect(out.body.toString()).toBe('event: message_stop\ndata: {}\n\n');
  });

  it('fails a malformed response as a protocol error', async () => {
    const origin = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nnot-hex\r\n'));
    const out = await send(client(), { origin });
    expect(out.error?.code).toBe('QCC_UPSTREAM_PROTOCOL');
  });

  it('refuses header values that would inject lines, before anything is sent', async () => {
    let connections = 0;
    const origin = await rawServer(() => connections++);
    const out = await send(client(), { origin, headers: { 'x-api-key': 'key\r\nx-injected: 1' } });
    expect(out.error?.code).toBe('QCC_BAD_REQUEST');
    expect(out.error?.beforeWrite).toBe(true);
    await sleep(20);
    expect(connections).toBe(0);
  });

  it('aborts: the upstream connection closes at once and the handler hears of it once', async () => {
    let upstreamClosed = false;
    const up = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      res.on('close', () => {
        upstreamClosed = true;
      });
    });
    const out = await send(client(), { origin: up.origin }, { onData: (ctl) => ctl.abort(new Error('client went away')) });
    expect(out.error?.message).toBe('client went away');
    expect(out.callbacks).toEqual(['start', 'head', 'error']);
    await eventually(() => upstreamClosed, 2_000);
  });

  it('pauses reading while the consumer is full and delivers every byte after resuming', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024, 'abcdefgh');
    const up = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(payload);
    });
    let paused = 0;
    const out = await send(client(), { origin: up.origin }, {
      onData: (ctl) => {
        if (paused++ === 0) {
          ctl.pause();
          setTimeout(() => ctl.resume(), 100);
        }
      },
    });
    expect(out.error).toBeUndefined();
    expect(out.body.equals(payload)).toBe(true);
  });

  it('speaks TLS, verifies the certificate, and reuses the connection', async () => {
    const server = createHttpsServer({ cert: TLS_CERT, key: TLS_KEY }, (_req, res) => res.end('secure'));
    let handshakes = 0;
    server.on('secureConnection', () => handshakes++);
    const origin = `https://${await listen(server)}`;
    const c = client({ ca: TLS_CERT });
    for (let i = 0; i < 5; i++) expect((await send(c, { origin })).body.toString()).toBe('secure');
    expect(handshakes).toBe(1);
    const untrusted = await send(client(), { origin });
    expect(untrusted.error?.beforeWrite).toBe(true);
    expect(failureOf(untrusted.error!)).toBe('connect');
  });

  it('carries hundreds of concurrent streams to completion, each with its own bytes', async () => {
    // Every stream's events name it, so bytes crossing from one connection to another (all plain-TCP reads
    // share one buffer) would show.
    const up = await httpServer((req, res) => {
      const id = req.url!.slice('/stream/'.length);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const tick = setInterval(() => {
        res.write(`data: ${id}.${n}\n\n`);
        if (++n === 5) {
          clearInterval(tick);
          res.end();
        }
      }, 5);
    });
    const c = client();
    const outs = await Promise.all(Array.from({ length: 300 }, (_, i) => send(c, { origin: up.origin, path: `/stream/${i}` })));
    expect(outs.filter((o) => o.error)).toEqual([]);
    outs.forEach((o, i) => expect(o.body.toString()).toBe([0, 1, 2, 3, 4].map((n) => `data: ${i}.${n}\n\n`).join('')));
  });

  it('closes idle connections once they pass the keep-alive limit', async () => {
    const up = await httpServer((_req, res) => res.end('ok'));
    const c = client({ keepAliveMs: 200 });
    await Promise.all([send(c, { origin: up.origin }), send(c, { origin: up.origin })]);
    expect(c.connectionCount(up.origin)).toBe(2);
    await eventually(() => c.connectionCount(up.origin) === 0, 3_000);
  });

  it('close() lets a request in flight finish, then refuses new ones', async () => {
    const up = await httpServer((_req, res) => setTimeout(() => res.end('late'), 150));
    const c = new UpstreamClient();
    const inFlight = send(c, { origin: up.origin });
    await sleep(20);
    let closed = false;
    const closing = c.close().then(() => {
      closed = true;
    });
    await sleep(50);
    expect(closed).toBe(false);
    expect((await inFlight).body.toString()).toBe('late');
    await closing;
    const after = await send(c, { origin: up.origin });
    expect(after.error?.code).toBe('QCC_CLIENT_CLOSED');
  });

  it('gives health checks a readable view of the same exchange', async () => {
    const up = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"a":1}');
    });
    const c = client();
    const res = await requestResponse(c, { origin: up.origin, path: '/', method: 'POST', headers: {}, body: null });
    expect(res.statusCode).toBe(200);
    expect(await res.json()).toEqual({ a: 1 });
    const silent = await httpServer(() => undefined);
    await expect(requestResponse(c, { origin: silent.origin, path: '/', method: 'GET', headers: {}, body: null }, AbortSignal.timeout(100))).rejects.toThrow();
  });
});
