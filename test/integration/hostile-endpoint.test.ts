import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, constants as zlibConstants, deflateSync, gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { Harness, rawRequest } from '../helpers/servers.js';

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
