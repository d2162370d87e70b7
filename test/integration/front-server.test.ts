import { afterEach, describe, expect, it } from 'vitest';
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { FrontServer, type FrontServerOptions } from '../../src/server/front-server.js';
import type { FrontRequest } from '../../src/server/connection.js';
import type { FrontResponse } from '../../src/server/response.js';
import { eventually, sleep } from '../helpers/servers.js';
import { raw, responses } from '../helpers/raw-http.js';
import { prng } from '../helpers/prng.js';

/**
 * qcc's front server on its own: which requests it answers itself, which it hands (with their connection) to
 * Node's HTTP server, and how it keeps connections — keep-alive, pipelining, half-close, timeouts,
 * backpressure, closing. Responses are read by Node's HTTP client or byte for byte off a raw socket.
 */

interface Started {
  front: FrontServer;
  port: number;
  /** Requests the front server answered, in order. */
  served: { req: FrontRequest; res: FrontResponse }[];
  connections: () => number;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

type Handler = (req: FrontRequest, res: FrontResponse) => void;

/** Echo: the body back, with who served it. */
const echo: Handler = (req, res) => {
  req.body.then(
    (body) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length), 'x-served-by': 'front', 'x-url': req.url });
      res.end(body);
    },
    () => undefined,
  );
};

async function start(onRequest: Handler = echo, options: Partial<FrontServerOptions> = {}): Promise<Started> {
  const fallback: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, httpVersion: req.httpVersion, body: Buffer.concat(chunks).toString('latin1') });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-served-by': 'node' });
      res.end(body);
    });
  });
  const served: Started['served'] = [];
  const front = new FrontServer({
    fallback,
    onRequest: (req, res) => {
      served.push({ req, res });
      onRequest(req, res);
    },
    maxBodyBytes: () => 1024 * 1024,
    keepAliveMs: 30_000,
    headersTimeoutMs: 60_000,
    ...options,
  });
  let connections = 0;
  const sockets = new Set<Socket>();
  front.server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        front.close(() => resolve());
      }),
  );
  return { front, port: (front.server.address() as AddressInfo).port, served, connections: () => connections };
}

function post(path: string, body: string, headers: Record<string, string> = {}): string {
  return `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n${body}`;
}

/** One request through Node's HTTP client (POST unless told otherwise); the body read whole. */
function send(port: number, agent: Agent | undefined, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean }) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, agent, method: opts.method ?? 'POST', path: opts.path, headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('error', reject);
    if (opts.chunked) {
      req.write(opts.body ?? '');
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

/**
 * How many writes reach the sockets `server` accepts from now on (each one is a syscall); `pieces` lists how
 * many buffers each of them carried.
 */
function countSocketWrites(server: NetServer, pieces: number[] = []): () => number {
  let writes = 0;
  server.on('connection', (socket: Socket) => {
    const stream = socket as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };
    const write = stream._write.bind(socket);
    const writev = stream._writev.bind(socket);
    stream._write = (...a) => {
      writes++;
      pieces.push(1);
      write(...a);
    };
    stream._writev = (chunks, cb) => {
      writes++;
      pieces.push(chunks.length);
      writev(chunks, cb);
    };
  });
  return () => writes;
}

describe('front server: what it answers, what it hands to Node', () => {
  it('answers API POSTs itself, reusing one connection, with the headers Node would add', async () => {
    const s = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 20; i++) {
      const r = await send(s.port, agent, { path: `/v1/messages?i=${i}`, body: `hello ${i}`, headers: { 'content-type': 'text/plain' } });
      expect(r.status).toBe(200);
      expect(r.body).toBe(`hello ${i}`);
      expect(r.headers['x-served-by']).toBe('front');
      expect(r.headers['x-url']).toBe(`/v1/messages?i=${i}`);
      expect(r.headers.connection).toBe('keep-alive');
      expect(r.headers['keep-alive']).toBe('timeout=30');
      expect(new Date(String(r.headers.date)).getTime()).toBeGreaterThan(Date.now() - 5_000);
    }
    agent.destroy();
    expect(s.served).toHaveLength(20);
    expect(s.connections()).toBe(1);
  });

  it("answers Claude Code's warm-up (HEAD /) itself, so the connection it opens stays on the fast path", async () => {
    const s = await start((req, res) => {
      void req.body.then((body) => res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length || 5) }).end(body.length ? body : 'hello'));
    });
    const c = await raw(s.port);
    c.socket.write('HEAD / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n\r\n');
    await eventually(() => c.text().includes('\r\n\r\n'));
    c.socket.write(post('/v1/messages?beta=true', 'turn one'));
    c.socket.write('GET /v1/models HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
    await eventually(() => c.text().includes('turn one') && c.text().endsWith('hello'));
    // The HEAD's answer has the headers of a GET (content-length 5) and no body: the next response follows at once.
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*content-length: 5\r\n[^]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
    expect(s.served.map(({ req }) => `${req.method} ${req.url}`)).toEqual(['HEAD /', 'POST /v1/messages?beta=true', 'GET /v1/models']);
    c.socket.destroy();
  });

  it('streams a body without a length as chunks, ending with the last chunk', async () => {
    const s = await start((req, res) => {
      void req.body.then(() => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (let i = 0; i < 5; i++) res.write(`event: n\ndata: ${i}\n\n`);
        res.write(''); // an empty write must not end the body
        res.end(Buffer.from('event: done\n\n'));
      });
    });
    const r = await send(s.port, undefined, { path: '/v1/messages', body: '{}' });
    expect(r.headers['transfer-encoding']).toBe('chunked');
    expect(r.body).toBe(`${[0, 1, 2, 3, 4].map((i) => `event: n\ndata: ${i}\n\n`).join('')}event: done\n\n`);
  });

  const handedOff: [string, (port: number) => Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>][] = [
    ['a GET outside /v1/', (port) => send(port, undefined, { method: 'GET', path: '/dashboard/' })],
    ['a path outside /v1/', (port) => send(port, undefined, { path: '/api/config', body: 'x' })],
    ['a chunked upload', (port) => send(port, undefined, { path: '/v1/messages', body: 'chunky', chunked: true })],
    ['Expect: 100-continue', (port) => send(port, undefined, { path: '/v1/messages', body: 'wait', headers: { expect: '100-continue' } })],
    ['a body over the limit', (port) => send(port, undefined, { path: '/v1/messages', body: Buffer.alloc(1024 * 1024 + 1, 0x61) })],
  ];
  for (const [what, send] of handedOff) {
    it(`hands ${what} to Node's server, which answers it`, async () => {
      const s = await start();
      const r = await send(s.port);
      expect(r.status).toBe(200);
      expect(r.headers['x-served-by']).toBe('node');
      expect(s.served).toHaveLength(0);
    });
  }

  it('hands HTTP/1.0 to Node', async () => {
    const s = await start();
    const c = await raw(s.port);
    c.socket.write('POST /v1/messages HTTP/1.0\r\nhost: a\r\ncontent-length: 2\r\n\r\nhi');
    await c.closed;
    const [r] = responses(c.text());
    expect(r!.headers['x-served-by']).toBe('node');
    expect(JSON.parse(r!.body)).toMatchObject({ httpVersion: '1.0', body: 'hi' });
  });

  it("lets Node refuse what is malformed (400) or too large (431), with the bytes as they came", async () => {
    const s = await start();
    const bad = await raw(s.port);
    bad.socket.write('POST /v1/messages HTTP/1.1\r\nhost: a\r\nx-bad\u0001: 1\r\ncontent-length: 0\r\n\r\n');
    await bad.closed;
    expect(bad.text()).toMatch(/^HTTP\/1\.1 400 /);
    const big = await raw(s.port);
    big.socket.write(`POST /v1/messages HTTP/1.1\r\nhost: a\r\nx-big: ${'a'.repeat(17 * 1024)}\r\ncontent-length: 0\r\n\r\n`);
    await big.closed;
    expect(big.text()).toMatch(/^HTTP\/1\.1 431 /);
    expect(s.served).toHaveLength(0);
  });

  it('serves pipelined requests in order, handing the connection over at the first one it does not take', async () => {
    const s = await start();
    const c = await raw(s.port);
    c.socket.write(`${post('/v1/a', 'one')}${post('/v1/b', 'two')}GET /dashboard/ HTTP/1.1\r\nhost: a\r\n\r\n${post('/v1/c', 'three')}`);
    await eventually(() => responses(c.text()).length === 4);
    const rs = responses(c.text());
    expect(rs.map((r) => r.headers['x-served-by'])).toEqual(['front', 'front', 'node', 'node']);
    expect(rs[0]!.body).toBe('one');
    expect(rs[1]!.body).toBe('two');
    expect(JSON.parse(rs[2]!.body)).toMatchObject({ method: 'GET', url: '/dashboard/' });
    expect(JSON.parse(rs[3]!.body)).toMatchObject({ url: '/v1/c', body: 'three' });
    c.socket.destroy();
  });

  it('reads a request that arrives a byte at a time', async () => {
    const s = await start();
    const c = await raw(s.port);
    const bytes = Buffer.from(post('/v1/messages', 'slowly, byte by byte'));
    for (const b of bytes) {
      c.socket.write(Buffer.from([b]));
      await sleep(1);
    }
    await eventually(() => responses(c.text()).length === 1);
    expect(responses(c.text())[0]!.body).toBe('slowly, byte by byte');
    expect(s.served).toHaveLength(1);
    c.socket.destroy();
  });

  it("treats a client that half-closes as gone, as Node's server does: the response closes unfinished", async () => {
    const s = await start(() => undefined);
    const c = await raw(s.port);
    c.socket.write(post('/v1/messages', '{}'));
    await eventually(() => s.served.length === 1);
    const { res } = s.served[0]!;
    const closed = new Promise<boolean>((resolve) => res.on('close', () => resolve(res.writableFinished)));
    c.socket.end();
    expect(await closed).toBe(false);
    await c.closed;
  });

  it('closes after a response when the client asks for it', async () => {
    const s = await start();
    const c = await raw(s.port);
    c.socket.write(post('/v1/messages', 'last', { connection: 'close' }));
    await c.closed;
    const [r] = responses(c.text());
    expect(r!.headers.connection).toBe('close');
    expect(r!.headers['keep-alive']).toBeUndefined();
    expect(r!.body).toBe('last');
  });

  it('closes after a response the handler marks connection: close', async () => {
    const s = await start((req, res) => {
      res.setHeader('connection', 'close');
      res.writeHead(413, { 'content-type': 'text/plain', 'content-length': '4' });
      res.end('nope');
      void req;
    });
    const c = await raw(s.port);
    c.socket.write(post('/v1/messages', 'x'.repeat(100)));
    await c.closed;
    const [r] = responses(c.text());
    expect(r!.status).toBe(413);
    expect(r!.headers.connection).toBe('close');
  });

  it('fails the body and closes the response when the client leaves mid-upload', async () => {
    const s = await start(() => undefined);
    const c = await raw(s.port);
    c.socket.write('POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly part');
    await eventually(() => s.served.length === 1);
    const { req, res } = s.served[0]!;
    const closed = new Promise<boolean>((resolve) => res.on('close', () => resolve(res.writableFinished)));
    c.socket.destroy();
    await expect(req.body).rejects.toThrow(/before sending the whole body/);
    expect(await closed).toBe(false);
  });

  it('drops a connection whose client half-closes mid-upload (the request can never complete)', async () => {
    const s = await start(() => undefined);
    const c = await raw(s.port);
    c.socket.end('POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\npart');
    await c.closed;
    await expect(s.served[0]!.req.body).rejects.toThrow();
  });

  it('tells the response when the client leaves mid-stream', async () => {
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\n\n');
    });
    const c = await raw(s.port);
    c.socket.write(post('/v1/messages', '{}'));
    await eventually(() => c.text().includes('event: ping'));
    const { res } = s.served[0]!;
    const closed = new Promise<boolean>((resolve) => res.on('close', () => resolve(res.writableFinished)));
    c.socket.destroy();
    expect(await closed).toBe(false);
  });

  it('stops (write returns false, no drain) while the client does not read, and resumes when it does', async () => {
    const PIECES = 256; // 16 MB: more than loopback's socket buffers hold, so the writer must wait
    let sent = 0;
    let waiting = false;
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const piece = Buffer.alloc(64 * 1024, 0x62);
      const pump = () => {
        while (sent < PIECES) {
          sent++;
          if (!res.write(piece)) {
            waiting = true;
            res.once('drain', () => {
              waiting = false;
              pump();
            });
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const c = await raw(s.port);
    c.socket.pause(); // a client that does not read for a while
    c.socket.write(post('/v1/messages', '{}'));
    // Stalled: waiting for a 'drain' that has not come for 200 ms, short of the whole body.
    let last = -1;
    await eventually(() => {
      const stalled = waiting && sent === last;
      last = sent;
      return stalled;
    }, 10_000, 200);
    expect(sent).toBeLessThan(PIECES);
    c.socket.resume();
    await eventually(() => c.text().endsWith('0\r\n\r\n'), 20_000);
    expect(responses(c.text())[0]!.body.length).toBe(PIECES * 64 * 1024);
    c.socket.destroy();
  }, 30_000);

  it('sends what a handler writes in one tick as one write: head, every chunk and the terminating chunk', async () => {
    const s = await start((req, res) => {
      void req.body.then(() => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: a\n\n');
        res.write(Buffer.from('event: b\n\n'));
        res.end('event: c\n\n');
      });
    });
    const writes = countSocketWrites(s.front.server);
    const r = await send(s.port, undefined, { path: '/v1/messages', body: '{}' });
    expect(r.body).toBe('event: a\n\nevent: b\n\nevent: c\n\n');
    expect(writes()).toBe(1);
  });

  it('sends a Content-Length body with its head in one write, however the handler hands it over', async () => {
    const body = Buffer.from(JSON.stringify({ type: 'message', content: [{ type: 'text', text: 'x'.repeat(300) }] }));
    const s = await start((req, res) => {
      void req.body.then(() => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
        if (req.url === '/v1/write-then-end') {
          res.write(body);
          res.end();
        } else if (req.url === '/v1/end') {
          res.end(body);
        } else {
          // In two pieces within one tick: still one write (corked), and nothing joined wrongly.
          res.write(body.subarray(0, 100));
          res.end(body.subarray(100));
        }
      });
    });
    const writes = countSocketWrites(s.front.server);
    for (const [i, path] of ['/v1/write-then-end', '/v1/end', '/v1/pieces'].entries()) {
      const c = await raw(s.port);
      c.socket.write(post(path, '{}'));
      await eventually(() => responses(c.text()).length === 1);
      const [r] = responses(c.text());
      expect(r!.status).toBe(200);
      expect(r!.headers['content-length']).toBe(String(body.length));
      expect(r!.body).toBe(body.toString());
      expect(c.text().endsWith(`\r\n\r\n${body.toString()}`)).toBe(true);
      expect(writes()).toBe(i + 1);
      c.socket.destroy();
    }
  });

  it("writes an upstream's header lines as they came, with its own after them and framing as the body needs", async () => {
    const lines = { text: '\r\nX-Upper: Case  \r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\ncontent-length: 5', contentLength: '5', date: true };
    const s = await start((req, res) => {
      void req.body.then(() => {
        if (req.url === '/v1/length') {
          res.writeForwardedHead(200, lines, { 'x-own': '1' });
          res.end(Buffer.from('hello'));
        } else {
          res.writeForwardedHead(201, { text: '\r\nx-a: 1', contentLength: undefined, date: false }, {});
          res.end(Buffer.from('hello'));
        }
      });
    });
    const writes = countSocketWrites(s.front.server);
    const c = await raw(s.port);
    c.socket.write(post('/v1/length', '{}'));
    await eventually(() => responses(c.text()).length === 1);
    expect(c.text()).toBe('HTTP/1.1 200 OK\r\nX-Upper: Case  \r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\ncontent-length: 5\r\nx-own: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\n\r\nhello');
    expect(writes()).toBe(1);
    c.socket.write(post('/v1/chunked', '{}'));
    await eventually(() => responses(c.text()).length === 2);
    const second = c.text().slice(c.text().indexOf('hello') + 5);
    expect(second).toMatch(/^HTTP\/1\.1 201 Created\r\nx-a: 1\r\nDate: [^\r]+ GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=30\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
    c.socket.destroy();
  });

  it('frames each small event of a stream into one buffer, as it arrives', async () => {
    const event = (n: number) => Buffer.from(`event: e${n}\ndata: {}\n\n`);
    const s = await start((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const next = () => {
        if (++n < 4) {
          res.write(event(n));
          setTimeout(next, 5);
        } else {
          res.end(event(n));
        }
      };
      next();
    });
    const pieces: number[] = [];
    const writes = countSocketWrites(s.front.server, pieces);
    const c = await raw(s.port);
    c.socket.write(post('/v1/stream', '{}'));
    await eventually(() => responses(c.text()).length === 1);
    expect(responses(c.text())[0]!.body).toBe([1, 2, 3, 4].map((n) => event(n).toString()).join(''));
    // One write an event (the head with the first, the last chunk with the last), each a single buffer.
    expect(writes()).toBe(4);
    expect(pieces).toEqual([1, 1, 1, 1]);
    c.socket.destroy();
  });

  it('writes a stream in one write per read and ends a response without a process tick', async () => {
    // Node runs its whole tick queue (and its rejection bookkeeping) after any callback that scheduled a tick:
    // the response's own uncork and 'close' ride on microtasks so that the upstream read ending a response
    // does not pay for that. Still one write for what one read hands over, and 'close' only after end().
    let ticks = -1;
    let closedSynchronously = true;
    const s = await start((_req, res) => {
      const nextTick = process.nextTick;
      let count = 0;
      process.nextTick = ((...args: Parameters<typeof nextTick>) => {
        // Node's own streams may schedule one (a write over the high-water mark, to emit 'drain'): not ours.
        if (!new Error().stack!.split('\n')[2]!.includes('node:internal/')) count++;
        nextTick(...args);
      }) as typeof nextTick;
      let closed = false;
      res.on('close', () => (closed = true));
      try {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // Buffers (small ones are framed into one buffer each, the large one is not) and a string.
        res.write(Buffer.from('event: a\ndata: {}\n\n'));
        res.write('event: b\ndata: {}\n\n');
        res.write(Buffer.alloc(20_000, 'x'));
        res.end(Buffer.from('event: c\ndata: {}\n\n'));
      } finally {
        process.nextTick = nextTick;
      }
      closedSynchronously = closed;
      ticks = count;
    });
    const writes = countSocketWrites(s.front.server);
    const c = await raw(s.port);
    c.socket.write(post('/v1/stream', '{}'));
    await eventually(() => responses(c.text()).length === 1);
    expect(responses(c.text())[0]!.body).toBe(`event: a\ndata: {}\n\nevent: b\ndata: {}\n\n${'x'.repeat(20_000)}event: c\ndata: {}\n\n`);
    expect(c.text()).toContain('\r\n\r\n13\r\nevent: a\ndata: {}\n\n\r\n13\r\nevent: b');
    expect(c.text().endsWith('\r\n13\r\nevent: c\ndata: {}\n\n\r\n0\r\n\r\n')).toBe(true);
    expect(ticks).toBe(0);
    expect(closedSynchronously).toBe(false);
    expect(writes()).toBe(1);
    c.socket.destroy();
  });

  it('frames what a handler writes as Node would: list headers, a 204, an empty stream, a length given as a number', async () => {
    const s = await start((req, res) => {
      if (req.url === '/v1/list') res.writeHead(200, { 'set-cookie': ['a=1', 'b=2'], 'content-length': 2 }).end('ok');
      else if (req.url === '/v1/none') res.writeHead(204, { 'x-a': '1' }).end();
      else res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
    });
    const c = await raw(s.port);
    c.socket.write(`${post('/v1/list', '')}${post('/v1/none', '')}${post('/v1/empty', '')}`);
    await eventually(() => responses(c.text()).length === 3);
    expect(c.text()).toContain('set-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 2\r\n');
    const [list, none, empty] = responses(c.text());
    expect(list!.body).toBe('ok');
    expect(none!.status).toBe(204);
    expect(none!.headers['transfer-encoding']).toBeUndefined();
    expect(none!.headers['content-length']).toBeUndefined();
    expect(empty!.headers['transfer-encoding']).toBe('chunked');
    expect(c.text().endsWith('Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).toBe(true);
    c.socket.destroy();
  });

  it('refuses a header value that would inject a header, as Node does', async () => {
    let error: unknown;
    const s = await start((_req, res) => {
      try {
        res.writeHead(200, { 'x-evil': 'a\r\nset-cookie: stolen=1' });
      } catch (e: unknown) {
        error = e;
        res.writeHead(500, { 'content-length': '0' }).end();
      }
    });
    const r = await send(s.port, undefined, { path: '/v1/messages', body: '{}' });
    expect(r.status).toBe(500);
    expect((error as NodeJS.ErrnoException).code).toBe('ERR_INVALID_CHAR');
    expect(r.headers['set-cookie']).toBeUndefined();
  });
});

describe('front server under mixed load', () => {
  it('answers 1,000 mixed requests over 20 kept-alive connections, each by the right server, every body intact', async () => {
    const s = await start();
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });
    const random = prng(7);
    const kinds = ['fast', 'fast', 'fast', 'chunked', 'get-node', 'head'] as const;
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const kind = kinds[Math.floor(random() * kinds.length)]!;
        const body = `body-${i}-${'x'.repeat(Math.floor(random() * 3000))}`;
        if (kind === 'fast' || kind === 'chunked') {
          const r = await send(s.port, agent, { path: `/v1/messages?i=${i}`, body, chunked: kind === 'chunked' });
          const echoed = r.headers['x-served-by'] === 'front' ? r.body : (JSON.parse(r.body) as { body: string }).body;
          return { ok: r.status === 200 && echoed === body, servedBy: r.headers['x-served-by'], kind };
        }
        if (kind === 'head') {
          const r = await send(s.port, agent, { method: 'HEAD', path: '/' });
          return { ok: r.status === 200 && r.body === '', servedBy: r.headers['x-served-by'], kind };
        }
        const r = await send(s.port, agent, { method: 'GET', path: `/dashboard/${i}` });
        return { ok: r.status === 200 && (JSON.parse(r.body) as { url: string }).url === `/dashboard/${i}`, servedBy: r.headers['x-served-by'], kind };
      }),
    );
    agent.destroy();
    expect(results.filter((r) => !r.ok)).toEqual([]);
    // A request the front server takes is answered by it unless its connection was handed over earlier.
    for (const r of results) if (r.kind === 'chunked' || r.kind === 'get-node') expect(r.servedBy).toBe('node');
    expect(results.filter((r) => r.kind === 'fast' && r.servedBy === 'front').length).toBeGreaterThan(20);
    expect(results.filter((r) => r.kind === 'fast' && r.servedBy === 'node').length).toBeGreaterThan(20);
    expect(s.connections()).toBeLessThanOrEqual(20);
  }, 30_000);
});

describe('front server: timeouts and closing', () => {
  it('closes a keep-alive connection left idle past the limit', async () => {
    const s = await start(echo, { keepAliveMs: 300, sweepMs: 50 });
    const c = await raw(s.port);
    c.socket.write(post('/v1/messages', 'one'));
    const t0 = Date.now();
    await c.closed;
    expect(responses(c.text())[0]!.body).toBe('one');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
  });

  it('answers 408 to a head that does not complete in time', async () => {
    const s = await start(echo, { headersTimeoutMs: 300, sweepMs: 50 });
    const c = await raw(s.port);
    c.socket.write('POST /v1/messages HTTP/1.1\r\nhost: a\r\n');
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
  });

  it('on close: idle connections go at once, a request in flight finishes with connection: close', async () => {
    let release = () => {};
    const s = await start((req, res) => {
      void req.body.then((body) => {
        release = () => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
          res.end(body);
        };
      });
    });
    const idle = await raw(s.port);
    const busy = await raw(s.port);
    busy.socket.write(post('/v1/messages', 'in flight'));
    await eventually(() => s.served.length === 1);
    let serverClosed = false;
    s.front.close(() => (serverClosed = true));
    await idle.closed;
    expect(idle.text()).toBe('');
    expect(busy.ended()).toBe(false);
    release();
    await busy.closed;
    const [r] = responses(busy.text());
    expect(r!.body).toBe('in flight');
    await eventually(() => serverClosed);
  });
});

describe('front server: a response keeps its own framing, whatever its handler writes', () => {
  const post = 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';

  it('never writes past the declared Content-Length, and closes the connection after such a response', async () => {
    const { port } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '5' });
      res.write(Buffer.from('abc'));
      res.end(Buffer.from('defgh')); // three bytes too many
    });
    const c = await raw(port);
    c.socket.write(post + post); // a second, pipelined request must not see the extra bytes as its answer
    await c.closed;
    const text = c.text();
    expect(responses(text)).toHaveLength(1);
    expect(text.endsWith('\r\n\r\nabcde')).toBe(true);
  });

  it('a body that stops short of its Content-Length ends with the connection, not in the next response', async () => {
    const { port } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('abcd');
      res.end();
    });
    const c = await raw(port);
    c.socket.write(post);
    await c.closed;
    expect(c.text().endsWith('\r\n\r\nabcd')).toBe(true);
    expect(c.ended()).toBe(true);
  });

  it('an exact body keeps the connection for the next request', async () => {
    const { port } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '5' });
      res.write('ab');
      res.end('cde');
    });
    const c = await raw(port);
    c.socket.write(post + post);
    await eventually(() => responses(c.text()).length === 2);
    expect(responses(c.text()).map((r) => r.body)).toEqual(['abcde', 'abcde']);
    c.socket.destroy();
  });
});

describe('front server: heads llhttp refuses are refused at once', () => {
  it.each([
    ['bare LF line ends', 'POST /v1/messages HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}'],
    ['a bare LF after a CRLF line', 'POST /v1/messages HTTP/1.1\r\nHost: x\nContent-Length: 2\r\n\r\n{}'],
    ['a bare LF ending the head', 'POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\n{}'],
  ])('%s: a 400 within a second, not a wait for the headers timeout', async (_name, head) => {
    const { port, served } = await start();
    const c = await raw(port);
    const t0 = performance.now();
    c.socket.write(head);
    await eventually(() => c.text().startsWith('HTTP/1.1 400'), 1_000);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(served).toHaveLength(0);
    c.socket.destroy();
  });
});
