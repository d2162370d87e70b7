import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent, request as httpRequest } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { brotliCompressSync, constants as zlibConstants, deflateSync, gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { eventually, Harness, rawRequest } from '../helpers/servers.js';
import { raw } from '../helpers/raw-http.js';
import { encodeMessage, eventStreamsReady } from '../../src/protocols/bedrock/event-stream.js';

/**
 * Endpoints are third parties: what they send is untrusted input. These tests play a hostile endpoint and check
 * that qcc stays up, stays responsive to everyone else, and keeps its memory, whatever it is sent.
 */

const harness = new Harness();
afterAll(() => harness.closeAll());

/** A gzip stream of `mib` MiB of zeros, in ~1 KB: one member of 1 MiB repeated (gzip members concatenate). */
function gzipBomb(mib: number): Buffer {
  const member = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  return Buffer.concat(Array.from({ length: mib }, () => member));
}

/** An endpoint answering every request with `answer`. */
async function endpointServer(answer: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  harness.onClose(() => new Promise<void>((r) => server.close(() => r())));
  harness.onClose(() => void server.closeAllConnections());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The longest the event loop went without running a 5 ms timer while `fn` ran (qcc runs in this process). */
async function longestStall<T>(fn: () => Promise<T>): Promise<{ value: T; stallMs: number }> {
  let last = performance.now();
  let worst = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 5);
  try {
    const value = await fn();
    return { value, stallMs: worst };
  } finally {
    clearInterval(timer);
  }
}

function logSink(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  return { lines, destination: new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }) };
}

const ask = (stream: boolean, model = 'claude-haiku-4-5-20251001') =>
  JSON.stringify({ model, max_tokens: 16, stream, messages: [{ role: 'user', content: 'hi' }] });

describe('compressed answers are decoded within bounds, off the event loop', () => {
  const bomb = gzipBomb(1024); // 1 GiB of zeros in ~1 MB

  it('a gzip bomb answering a JSON request: passed to the client as it came, usage skipped with a warning, nothing stalls', async () => {
    const bad = await endpointServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    const good = await harness.sim({ name: 'good' });
    const { lines, destination } = logSink();
    const { url } = await harness.proxy(
      { version: 1, endpoints: [{ id: 'bomb', base_url: bad, models: ['bomb-model'] }, { id: 'good', base_url: good.url }] },
      { logger: createLogger('warn', { destination }) },
    );
    const rssBefore = process.memoryUsage().rss;
    const { value, stallMs } = await longestStall(async () => {
      const bombAnswer = rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false, 'bomb-model') });
      // Someone else's request, at the same time, is answered as usual.
      const started = performance.now();
      const other = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
      return { bombAnswer: await bombAnswer, other, otherMs: performance.now() - started };
    });
    expect(value.bombAnswer.status).toBe(200);
    expect(value.bombAnswer.bytes.equals(bomb)).toBe(true);
    expect(value.other.status).toBe(200);
    expect(value.otherMs).toBeLessThan(500);
    expect(stallMs).toBeLessThan(250);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 2 ** 20);
    await expect.poll(() => lines.join('')).toMatch(/usage not read: decoded answer would be over 8388608 bytes \(gzip/);
  });

  it('a bomb answering a streaming request cannot be replayed: the attempt fails over before anything reached the client', async () => {
    const bad = await endpointServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    const good = await harness.sim({ name: 'good' });
    const { url, app } = await harness.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'bomb', base_url: bad, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }] });
    const { value, stallMs } = await longestStall(() => rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(true) }));
    expect(value.status).toBe(200);
    expect(value.headers['x-qcc-endpoint']).toBe('good');
    expect(value.headers['x-qcc-attempts']).toBe('2');
    expect(value.body).toContain('event: message_stop');
    expect(stallMs).toBeLessThan(250);
    expect(app.status().endpoints.find((e) => e.id === 'bomb')!.last_error).toMatch(/JSON answer to a streaming request: decoded answer would be over 8388608 bytes/);
  });

  it('every coding qcc reads (gzip, deflate, br) is bounded the same way, and normal compressed answers still give usage', async () => {
    const big = Buffer.alloc(64 << 20); // 64 MiB decoded: over the 8 MiB limit
    const message = Buffer.from(JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', usage: { input_tokens: 11, output_tokens: 7 } }));
    const bodies: Record<string, { bomb: Buffer; normal: Buffer }> = {
      gzip: { bomb: gzipBomb(64), normal: gzipSync(message) },
      deflate: { bomb: deflateSync(big), normal: deflateSync(message) },
      br: { bomb: brotliCompressSync(big, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 4 } }), normal: brotliCompressSync(message) },
    };
    for (const [coding, { bomb: b, normal }] of Object.entries(bodies)) {
      for (const [kind, body] of [['bomb', b], ['normal', normal]] as const) {
        const records: { usage: unknown; note: string | undefined }[] = [];
        const server = await endpointServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': coding, 'content-length': body.length });
          res.end(body);
        });
        const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'e', base_url: server }] }, { observer: { requestFinished: (r) => records.push({ usage: r.usage, note: r.note }) } });
        const res = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
        expect(res.bytes.equals(body), `${coding} ${kind}`).toBe(true);
        await expect.poll(() => records.length).toBe(1);
        if (kind === 'bomb') {
          expect(records[0]!.usage, coding).toBeUndefined();
          expect(records[0]!.note, coding).toContain(`decoded answer would be over 8388608 bytes (${coding}`);
        } else {
          expect(records[0]!.usage, coding).toMatchObject({ input_tokens: 11, output_tokens: 7 });
        }
      }
    }
  });

  it('a JSON answer to a streaming request that would not fit the replay bound fails over instead of being held', async () => {
    const huge = Buffer.alloc(9 << 20, 0x20); // 9 MiB of spaces, uncompressed
    const bad = await endpointServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': huge.length });
      res.end(huge);
    });
    const good = await harness.sim({ name: 'good' });
    const { url } = await harness.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'big', base_url: bad, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }] });
    const res = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(true) });
    expect(res.headers['x-qcc-endpoint']).toBe('good');
    expect(res.body).toContain('event: message_stop');
  });
});

/**
 * An endpoint that answers each request (read whole, by its Content-Length) with `answer(n)`'s raw bytes, the
 * n-th request counting from 0, and then closes the connection when `close` says so.
 */
async function rawEndpoint(answer: (n: number) => { bytes: string | Buffer; close?: boolean; drop?: boolean }): Promise<string> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: *(\d+)/i.exec(buffered.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        buffered = buffered.subarray(end + 4 + length);
        const a = answer(count++);
        if (a.drop) return void socket.destroy();
        socket.write(a.bytes);
        if (a.close) socket.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  harness.onClose(() => new Promise<void>((r) => server.close(() => r())));
  harness.onClose(() => sockets.forEach((s) => s.destroy()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const sseEvents = (...types: string[]) =>
  types.map((t) => `event: ${t}\ndata: ${JSON.stringify(t === 'message_start' ? { type: t, message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'm', usage: { input_tokens: 3, output_tokens: 1 } } } : t === 'content_block_delta' ? { type: t, index: 0, delta: { type: 'text_delta', text: 'hi' } } : { type: t })}\n\n`).join('');

/** Two requests, one after the other, on one keep-alive connection from Node's own client (llhttp). */
async function twoOnOneConnection(url: string, bodies: [string, string]): Promise<{ status: number; body: string }[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const out: { status: number; body: string }[] = [];
    for (const body of bodies) {
      out.push(
        await new Promise((resolve, reject) => {
          const req = httpRequest(`${url}/v1/messages`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on('error', reject);
          });
          req.on('error', reject);
          req.end(body);
        }),
      );
    }
    return out;
  } finally {
    agent.destroy();
  }
}

describe('framing: what an endpoint frames badly never desynchronises a client connection', () => {
  it('an SSE stream framed by Content-Length that ends without message_stop: re-framed, the error event fits, the connection stays usable', async () => {
    const events = sseEvents('message_start', 'content_block_start', 'content_block_delta');
    const endpoint = await rawEndpoint((n) =>
      n === 0
        ? { bytes: `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${Buffer.byteLength(events)}\r\n\r\n${events}` }
        : { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' },
    );
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'e', base_url: endpoint }] });
    const [first, second] = await twoOnOneConnection(url, [ask(true), ask(false)]);
    expect(first!.body.startsWith(events)).toBe(true);
    expect(first!.body.slice(events.length)).toMatch(/^event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"upstream stream ended without message_stop"/);
    expect(second).toEqual({ status: 200, body: '{}' });
  });

  it('an SSE stream whose connection breaks short of its Content-Length: the client gets the error event and its next request works', async () => {
    const events = sseEvents('message_start', 'content_block_start', 'content_block_delta');
    const endpoint = await rawEndpoint((n) =>
      n === 0
        ? { bytes: `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${Buffer.byteLength(events) + 6769}\r\n\r\n${events}`, close: true }
        : { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' },
    );
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'e', base_url: endpoint }] });
    const [first, second] = await twoOnOneConnection(url, [ask(true), ask(false)]);
    expect(first!.body).toContain('event: error');
    expect(second).toEqual({ status: 200, body: '{}' });
  });

  it('a Content-Length repeated or listed (equal values or not) is refused as llhttp refuses it: it fails over, or is a clean 502', async () => {
    const heads = ['Content-Length: 2\r\nContent-Length: 2', 'Content-Length: 2, 2', 'Content-Length: 2\r\nContent-Length: 3'];
    for (const head of heads) {
      const bad = await rawEndpoint(() => ({ bytes: `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n${head}\r\n\r\n{}` }));
      const good = await harness.sim({ name: 'good' });
      const { url } = await harness.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'bad', base_url: bad, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }] });
      const r = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
      expect(r.headers['x-qcc-endpoint'], head).toBe('good');
      const alone = await harness.proxy({ version: 1, endpoints: [{ id: 'bad', base_url: bad }] });
      const [first, second] = await twoOnOneConnection(alone.url, [ask(false), ask(false)]);
      expect(first!.status, head).toBe(502);
      expect(JSON.parse(first!.body)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(second!.status).toBe(502); // and the client's connection is still in step
    }
  });

  it('a head that would pass a client\'s 16 KiB limit once qcc adds its own headers is refused, not passed on', async () => {
    const big = `X-Big: ${'a'.repeat(16_000)}`; // ~15.9 KB: under llhttp's 16 KiB, over it with qcc's headers
    const bad = await rawEndpoint(() => ({ bytes: `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n${big}\r\nContent-Length: 2\r\n\r\n{}` }));
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'bad', base_url: bad }] });
    const [r] = await twoOnOneConnection(url, [ask(false), ask(false)]);
    expect(r!.status).toBe(502); // Node's own client read qcc's answer: its head is within the limit
  });

  it.each([
    ['-1', '-1\r\nxx\r\n0\r\n\r\n'],
    ['19 hex digits', '0000000000000000002\r\n{}\r\n0\r\n\r\n'],
    ['0x', '0x2\r\n{}\r\n0\r\n\r\n'],
    ['bare LF', '2\n{}\r\n0\r\n\r\n'],
  ])('bad chunk framing (%s) on a non-stream 200 is a failure before the first byte: it fails over, or is a clean 502', async (_name, body) => {
    const bad = await rawEndpoint(() => ({ bytes: `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, close: true }));
    const good = await harness.sim({ name: 'good' });
    const { url } = await harness.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'bad', base_url: bad, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }] });
    const r = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
    expect(r.status).toBe(200);
    expect(r.headers['x-qcc-endpoint']).toBe('good');
    const alone = await harness.proxy({ version: 1, endpoints: [{ id: 'bad', base_url: bad }] });
    const r2 = await rawRequest(`${alone.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
    expect(r2.status).toBe(502);
    expect(JSON.parse(r2.body)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
  });
});

describe('no silent re-sends', () => {
  it('a request the endpoint read and then dropped on a reused connection is an attempt in the chain, failed over under the budget, never sent twice', async () => {
    let received = 0;
    const dropper = await rawEndpoint((n) => {
      received++;
      return n === 0 ? { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' } : { bytes: '', drop: true };
    });
    const good = await harness.sim({ name: 'good' });
    const records: { attempts: { endpointId: string; error?: string }[] }[] = [];
    const { url } = await harness.proxy(
      { version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'dropper', base_url: dropper, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }] },
      { observer: { requestFinished: (r) => records.push({ attempts: r.attempts }) } },
    );
    expect((await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) })).body).toBe('{}');
    const second = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ask(false) });
    expect(second.headers['x-qcc-endpoint']).toBe('good');
    expect(second.headers['x-qcc-attempts']).toBe('2');
    await expect.poll(() => records.length).toBe(2);
    expect(records[1]!.attempts.map((a) => `${a.endpointId}:${a.error ?? 'ok'}`)).toEqual(['dropper:reset', 'good:ok']);
    expect(received).toBe(2); // the dropped request reached the endpoint once, never again
  });
});

describe('clients that send slowly, or too much, cannot hold qcc\'s memory', () => {
  const head = (length: number, extra = '') => `POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${extra}\r\n`;

  it('uploads that stall get a 408 and lose their connection; what they held is let go', async () => {
    const good = await harness.sim({ name: 'good' });
    const { url, app } = await harness.proxy({ version: 1, proxy: { body_idle_timeout_ms: 300 }, endpoints: [{ id: 'good', base_url: good.url }] });
    const port = Number(new URL(url).port);
    const part = Buffer.alloc(1 << 20, 0x20); // 1 MiB of an 8 MiB body, then silence
    const clients = await Promise.all(Array.from({ length: 16 }, () => raw(port)));
    for (const c of clients) c.socket.write(Buffer.concat([Buffer.from(head(8 << 20)), part]));
    await Promise.all(clients.map((c) => c.closed));
    for (const c of clients) expect(c.text()).toMatch(/^HTTP\/1\.1 408 [\s\S]*"type":"timeout_error"[\s\S]*the request body stopped arriving/);
    // And qcc serves on: a request of the full 8 MiB is admitted and answered. (That the stalled bodies' bytes
    // are let go is proved by the cap test below: it is admitted only once they are.)
    const full = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(8 << 20) }] }) });
    expect(full.status).toBe(200);
    expect(app.server.listening).toBe(true);
  });

  it('a body that trickles forever is cut at the total limit', async () => {
    const { url } = await harness.proxy({ version: 1, proxy: { body_idle_timeout_ms: 10_000, body_timeout_ms: 1_000 }, endpoints: [{ id: 'e', base_url: (await harness.sim()).url }] });
    const c = await raw(Number(new URL(url).port));
    c.socket.write(head(1000));
    const drip = setInterval(() => c.socket.write('x'), 100);
    try {
      await c.closed;
    } finally {
      clearInterval(drip);
    }
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 [\s\S]*took too long to arrive/);
  });

  it('past the cap on buffered request bytes, a request is refused with 503 and retry-after before its body is read', async () => {
    const good = await harness.sim({ name: 'good' });
    const { url } = await harness.proxy({ version: 1, proxy: { max_buffered_body_bytes: 4 << 20, body_idle_timeout_ms: 800 }, endpoints: [{ id: 'good', base_url: good.url }] });
    const port = Number(new URL(url).port);
    const holder = await raw(port);
    holder.socket.write(head(3 << 20) + ' '.repeat(1000)); // holds 3 MiB of the 4 MiB, and stalls
    await new Promise((r) => setTimeout(r, 50));
    const refused = await raw(port);
    refused.socket.write(head(2 << 20));
    await eventually(() => refused.text().includes('\r\n\r\n{'), 2_000);
    expect(refused.text()).toMatch(/^HTTP\/1\.1 503 [\s\S]*retry-after: 1[\s\S]*"type":"overloaded_error"[\s\S]*too many request bytes/i);
    refused.socket.destroy();
    await holder.closed; // its body timed out: the 3 MiB are let go
    const admitted = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }] }) });
    expect(admitted.status).toBe(200);
  });

  it('a client without the access key is refused at its head; the body it goes on sending is read past, not kept', async () => {
    const { url } = await harness.proxy({ version: 1, proxy: { access_keys: ['qcc-team-key-1'] }, endpoints: [{ id: 'e', base_url: (await harness.sim()).url }] });
    const c = await raw(Number(new URL(url).port));
    c.socket.write(head(4 << 20));
    await eventually(() => c.text().includes('authentication_error'), 2_000);
    expect(c.text()).toMatch(/^HTTP\/1\.1 401 /);
    c.socket.destroy();
  });
});

describe('a hostile Bedrock endpoint: its event-stream is untrusted like any answer', () => {
  const ask = (url: string) => rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  const frame = (event: Record<string, unknown>) => Buffer.from(encodeMessage({ ':message-type': 'event', ':event-type': 'chunk' }, Buffer.from(JSON.stringify({ bytes: Buffer.from(JSON.stringify(event)).toString('base64') }))));
  let START: Buffer;
  let DELTA: Buffer;
  beforeAll(async () => {
    await eventStreamsReady();
    START = frame({ type: 'message_start', message: { id: 'm', type: 'message', role: 'assistant', model: 'x', content: [], usage: { input_tokens: 1, output_tokens: 1 } } });
    DELTA = frame({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'partial' } });
  });

  async function pool(answer: (res: ServerResponse) => void) {
    const hostile = await endpointServer((_req, res) => answer(res));
    const good = await harness.sim({ name: 'good' });
    const { url } = await harness.proxy({
      version: 1,
      proxy: { strategy: 'priority' },
      // A Bedrock API key: the hostile server checks nothing, and nothing needs signing.
      endpoints: [{ id: 'hostile', protocol: 'bedrock', base_url: hostile, api_key: 'bedrock-key', bedrock: { region: 'us-east-1' }, priority: 0 }, { id: 'good', base_url: good.url, priority: 1 }],
    });
    return url;
  }

  it('a corrupted frame, or one announcing 4 GiB, before any content: failed over, nothing allocated for it', async () => {
    const corrupt = Buffer.from(START);
    corrupt[corrupt.length - 2] = corrupt[corrupt.length - 2]! ^ 0xff;
    const huge = Buffer.alloc(12);
    huge.writeUInt32BE(0xffff_fff0, 0);
    for (const body of [corrupt, huge]) {
      const url = await pool((res) => {
        res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
        res.write(body); // and then silence: the cut must not wait for the rest
      });
      const rssBefore = process.memoryUsage().rss;
      const res = await ask(url);
      expect(res.status).toBe(200);
      expect(res.headers['x-qcc-endpoint']).toBe('good');
      expect(res.body).toContain('event: message_stop');
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    }
  });

  it('a corrupted frame after content: the stream ends with an error event, and qcc serves on', async () => {
    const bad = Buffer.from(DELTA);
    bad[bad.length - 2] = bad[bad.length - 2]! ^ 0xff;
    const url = await pool((res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
      res.write(Buffer.concat([START, frame({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }), DELTA]));
      setTimeout(() => res.end(bad), 20);
    });
    const res = await ask(url);
    expect(res.headers['x-qcc-endpoint']).toBe('hostile');
    expect(res.body).toContain('"text":"partial"');
    expect(res.body).toMatch(/event: error\ndata: .*malformed event-stream message/);
    const again = await ask(url);
    expect(again.status).toBe(200);
  });

  it('a JSON answer that is not a message, to a non-streaming request: failed over', async () => {
    const url = await pool((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"type":"not-a-message","content":"<script>"}');
    });
    const res = await rawRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) });
    expect(res.status).toBe(200);
    expect(res.headers['x-qcc-endpoint']).toBe('good');
    expect(JSON.parse(res.body)).toMatchObject({ type: 'message' });
  });
});
