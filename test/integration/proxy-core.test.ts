import { afterEach, describe, expect, it, vi } from 'vitest';
import { RequestLines } from '../../src/server/request-lines.js';
import { ResponseHeaders } from '../../src/upstream/response-headers.js';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { Harness, endpoint, eventually, rawRequest, sleep } from '../helpers/servers.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';
import { raw, responses } from '../helpers/raw-http.js';

const h = new Harness();
afterEach(() => h.closeAll());

const MESSAGE = { model: 'claude-haiku-4-5-20251001', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

function sdk(url: string, auth: { apiKey?: string; authToken?: string } = { apiKey: 'sk-client-key' }): Anthropic {
  return new Anthropic({ baseURL: url, maxRetries: 0, ...auth });
}

describe('forwarding through the official SDK', () => {
  it('creates a message and reports which endpoint served it', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim, { api_key: 'sk-endpoint-key' })] });
    const { data, response } = await sdk(url).messages.create(MESSAGE).withResponse();
    expect(data.content[0]).toMatchObject({ type: 'text', text: expect.stringContaining('up') });
    expect(data.usage.output_tokens).toBeGreaterThan(0);
    expect(response.headers.get('x-qcc-endpoint')).toBe('up');
    expect(response.headers.get('x-qcc-attempts')).toBe('1');
    expect(response.headers.get('x-qcc-request-id')).toMatch(/^req_qcc_/);
  });

  it('streams every event, in order, ending with message_stop', async () => {
    const sim = await h.sim({ name: 'up', behavior: { deltas: 12 } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const types: string[] = [];
    let text = '';
    const stream = sdk(url).messages.stream(MESSAGE);
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    }
    expect(types[0]).toBe('message_start');
    expect(types.at(-1)).toBe('message_stop');
    expect(types.filter((t) => t === 'content_block_delta')).toHaveLength(12);
    expect(text).toContain('simulated Anthropic endpoint');
  });

  it('relays SSE bytes unchanged', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const body = JSON.stringify({ ...MESSAGE, stream: true });
    const viaProxy = await request(`${url}/v1/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const direct = await request(`${sim.url}/v1/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const scrub = (s: string) => s.replace(/msg_sim_[0-9a-f]+/g, 'msg');
    expect(scrub(await viaProxy.body.text())).toBe(scrub(await direct.body.text()));
    expect(viaProxy.headers['content-type']).toBe('text/event-stream; charset=utf-8');
  });

  it('answers count_tokens and lists models', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const count = await sdk(url).messages.countTokens({ model: MESSAGE.model, messages: MESSAGE.messages });
    expect(count.input_tokens).toBeGreaterThan(0);
    const models = await sdk(url).models.list();
    expect(models.data.map((m) => m.id)).toContain('claude-opus-4-8');
  });

  it('keeps the query string, the body bytes and every anthropic-*/x-* header', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim, { api_key: 'sk-endpoint-key' })] });
    // Odd spacing and key order must survive: prompt caching depends on byte-stable bodies.
    const body = '{"max_tokens":5,  "model":"claude-opus-4-8","messages":[{"role":"user","content":"é ✓"}],"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]}';
    // node:http rather than undici: undici refuses to send hop-by-hop headers, and they are what is tested here.
    const res = await rawRequest(`${url}/v1/messages?beta=true`, {
      method: 'POST',
      body,
      headers: {
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14',
        'x-claude-code-session-id': 'abc',
        'x-stainless-retry-count': '0',
        'x-api-key': 'sk-client-key',
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': 'must not pass',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic abc',
      },
    });
    expect(res.status).toBe(200);
    const got = sim.requests.at(-1)!;
    expect(got.path).toBe('/v1/messages?beta=true');
    expect(got.body.toString('utf8')).toBe(body);
    expect(got.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    expect(got.headers['anthropic-version']).toBe('2023-06-01');
    expect(got.headers['x-claude-code-session-id']).toBe('abc');
    expect(got.headers['x-stainless-retry-count']).toBe('0');
    expect(got.headers['x-secret-hop']).toBeUndefined();
    expect(got.headers['keep-alive']).toBeUndefined();
    expect(got.headers['proxy-authorization']).toBeUndefined();
    expect(got.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('passes any other /v1/* path through', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const res = await request(`${url}/v1/files?limit=2`);
    expect(res.statusCode).toBe(404); // the simulator has no such route: its own 404 comes back
    expect(await res.body.json()).toMatchObject({ type: 'error', error: { message: expect.stringContaining('simulator') } });
    expect(sim.requests.at(-1)!.path).toBe('/v1/files?limit=2');
  });
});

describe('one address, two servers', () => {
  it("serves the API on qcc's front server and everything else through Node's, on one connection", async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const body = JSON.stringify(MESSAGE);
    const c = await raw(Number(new URL(url).port));
    // The API request (fast path), then /metrics, then the same request chunked (both for Node's server), then
    // the API request again: the connection is Node's from the first request the front server does not take.
    const fast = `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    const chunked = `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    c.socket.write(`${fast}GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n${chunked}${fast}`);
    await eventually(() => responses(c.text()).length === 4);
    const rs = responses(c.text());
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(rs[1]!.body).toContain('qcc_requests_total');
    for (const i of [0, 2, 3]) expect(JSON.parse(rs[i]!.body)).toMatchObject({ type: 'message', role: 'assistant' });
    expect(sim.requests.map((r) => r.body.toString('utf8'))).toEqual([body, body, body]);
    c.socket.destroy();
  });
});

describe("the upstream's response headers", () => {
  /** What the real API sends besides framing: rate limits, ids, its CDN's (names spelt as the upstream spells them). */
  const API = {
    'anthropic-ratelimit-requests-remaining': '3999',
    'anthropic-ratelimit-tokens-reset': '2026-11-28T21:40:01Z',
    'Anthropic-Organization-Id': '0b7f3c2e-5f1a-4c8e-9d2b-7a6e5c4d3b2a',
    'cf-ray': '8e7f6a5b4c3d2e1f-SJC',
    'x-odd-spacing': 'a  b',
  };

  it('reach the client byte for byte, in order, on both servers, stream or not, without the hop-by-hop ones', async () => {
    const sim = await h.sim({ name: 'up', behavior: { headers: API, deltas: 3 } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const c = await raw(Number(new URL(url).port));
    const json = JSON.stringify(MESSAGE);
    const stream = JSON.stringify({ ...MESSAGE, stream: true });
    const fast = (body: string) => `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    // Chunked request bodies go to Node's server, whose response takes the headers as an object.
    const chunked = `POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    c.socket.write(`${fast(json)}${fast(stream)}${chunked}`);
    await eventually(() => responses(c.text()).length === 3);
    const heads = c.text().split(/\r\n\r\n/).filter((part) => part.includes('HTTP/1.1 '));
    expect(heads).toHaveLength(3);
    const apiLines = Object.entries(API).map(([name, value]) => `${name}: ${value}`);
    for (const [i, head] of heads.entries()) {
      const lines = head.slice(head.indexOf('HTTP/1.1 ')).split('\r\n');
      expect(lines[0]).toBe('HTTP/1.1 200 OK');
      const names = lines.slice(1).map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
      // Framing and connection headers once each, the proxy's; the upstream's own are gone.
      for (const name of ['connection', 'keep-alive', 'date']) expect(names.filter((n) => n === name), `${i}: ${name}`).toHaveLength(1);
      expect(names.filter((n) => n === 'content-length' || n === 'transfer-encoding'), String(i)).toHaveLength(1);
      if (i < 2) {
        // The front server: the upstream's lines exactly as it sent them, in its order.
        const at = lines.indexOf(apiLines[0]!);
        expect(lines.slice(at, at + apiLines.length)).toEqual(apiLines);
      } else {
        // Node's server: the same names and values (lower-cased names, as Node's client hands them over).
        for (const [name, value] of Object.entries(API)) expect(lines).toContain(`${name.toLowerCase()}: ${value}`);
      }
      expect(lines.some((l) => l.startsWith('x-qcc-endpoint: up'))).toBe(true);
    }
    c.socket.destroy();
  });
});

describe('what the proxy makes of the headers on its own path', () => {
  afterEach(() => vi.restoreAllMocks());

  it("makes no headers object for a request the front server read or for its answer, streamed or not, with an access key or without", async () => {
    const sim = await h.sim({ name: 'up', behavior: { headers: { 'anthropic-ratelimit-requests-remaining': '9' } } });
    const requestObjects = vi.spyOn(RequestLines.prototype, 'object', 'get');
    const responseObjects = vi.spyOn(ResponseHeaders.prototype, 'object', 'get');
    // No health checks: they read their answers' headers as an object, by design.
    const health = { interval_s: 0 };
    const open = await h.proxy({ version: 1, health, endpoints: [endpoint('up', sim, { api_key: 'sk-endpoint-key' })] });
    const locked = await h.proxy({ version: 1, health, proxy: { access_keys: ['qcc-key-1'] }, endpoints: [endpoint('up', sim)] });
    const headers = { 'x-claude-code-session-id': 'session-1', 'anthropic-beta': 'a,b' };
    await new Anthropic({ baseURL: open.url, apiKey: 'sk-client', maxRetries: 0, defaultHeaders: headers }).messages.create(MESSAGE);
    const stream = await new Anthropic({ baseURL: locked.url, apiKey: 'qcc-key-1', maxRetries: 0, defaultHeaders: headers }).messages.create({ ...MESSAGE, stream: true });
    for await (const _ of stream) void _;
    expect(sim.requests.map((r) => r.headers['anthropic-beta'])).toEqual(['a,b', 'a,b']);
    expect(requestObjects).not.toHaveBeenCalled();
    expect(responseObjects).not.toHaveBeenCalled();
  });
});

describe("bad input handed to Node's server", () => {
  it('answers a malformed head 400 and an oversized one 431, and never calls upstream', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const port = Number(new URL(url).port);
    const bad = await raw(port);
    bad.socket.write('POST /v1/messages HTTP/1.1\r\nhost: x\r\nbad header: 1\r\ncontent-length: 2\r\n\r\n{}');
    await bad.closed;
    expect(bad.text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const big = await raw(port);
    big.socket.write(`POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\ncontent-length: 2\r\n\r\n{}`);
    await big.closed;
    expect(big.text()).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(sim.requests).toHaveLength(0);
  });
});

describe('authentication to endpoints', () => {
  it.each([
    ['auto', 'sk-ep', 'Bearer sk-ep'],
    ['x-api-key', 'sk-ep', undefined],
    ['bearer', undefined, 'Bearer sk-ep'],
  ] as const)('auth_mode %s sends x-api-key=%s authorization=%s', async (mode, xApiKey, authorization) => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim, { api_key: 'sk-ep', auth_mode: mode })] });
    // The client authenticates both ways at once; neither of its credentials may reach the endpoint.
    await sdk(url, { apiKey: 'sk-client-a' }).messages.create(MESSAGE, { headers: { authorization: 'Bearer sk-client-b' } });
    const got = sim.requests.at(-1)!.headers;
    expect(got['x-api-key']).toBe(xApiKey);
    expect(got.authorization).toBe(authorization);
  });

  it('forwards the client credentials unchanged to an endpoint without a key (both SDK styles)', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    // SDK 1.x sends apiKey as a Bearer token.
    await sdk(url, { apiKey: 'sk-client-x' }).messages.create(MESSAGE);
    expect(sim.requests.at(-1)!.headers.authorization).toBe('Bearer sk-client-x');
    await sdk(url, { authToken: 'tok-client-y' }).messages.create(MESSAGE);
    expect(sim.requests.at(-1)!.headers.authorization).toBe('Bearer tok-client-y');
    // Claude Code sends x-api-key.
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json', 'x-api-key': 'sk-cc-z' } });
    await res.body.dump();
    expect(sim.requests.at(-1)!.headers['x-api-key']).toBe('sk-cc-z');
    expect(sim.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('adds anthropic-version only when the client sent none', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    await sdk(url).messages.create(MESSAGE);
    const sdkVersion = sim.requests.at(-1)!.headers['anthropic-version'];
    expect(sdkVersion).toBeDefined(); // the SDK sends its own, which passes unchanged
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
    await res.body.dump();
    expect(sim.requests.at(-1)!.headers['anthropic-version']).toBe('2023-06-01');
  });

  it('works against a base_url with a path prefix, a trailing slash or /v1', async () => {
    const sim = await h.sim({ name: 'up' });
    for (const suffix of ['/api/anthropic', '/api/anthropic/', '/api/anthropic/v1', '/v1/', '/']) {
      const { url } = await h.proxy({ version: 1, endpoints: [{ id: 'p', base_url: `${sim.url}${suffix}` }] });
      const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
      await res.body.dump();
      const path = sim.requests.at(-1)!.path;
      expect(path).not.toContain('//');
      expect(path).not.toContain('/v1/v1');
      expect(path.endsWith('/v1/messages?beta=true')).toBe(true);
    }
  });
});

describe('errors', () => {
  it('relays an upstream 400 as it is, body and headers included', async () => {
    const sim = await h.sim({ name: 'up', behavior: { status: 400, errorMessage: 'messages: field required' } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const err = await sdk(url).messages.create(MESSAGE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as InstanceType<typeof Anthropic.BadRequestError>).message).toContain('messages: field required');
    expect(sim.messageCalls).toBe(1);
  });

  it('relays the last upstream error with retry-after capped at 60 s', async () => {
    const sim = await h.sim({ name: 'up', behavior: { status: 429, retryAfter: 600, errorMessage: 'slow down' } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim, { api_key: 'k1' })] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('60');
    expect(res.headers['x-should-retry']).toBe('true');
    expect(await res.body.json()).toMatchObject({ error: { type: 'rate_limit_error', message: 'slow down' } });
  });

  it('answers malformed JSON with an Anthropic 400 and never calls upstream', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: '{"model":', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    const body = (await res.body.json()) as { type: string; error: { type: string }; request_id: string };
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(body.request_id).toBe(res.headers['x-qcc-request-id']);
    expect(sim.messageCalls).toBe(0);
  });

  it('refuses a body over the limit with 413, counting bytes rather than trusting content-length', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, proxy: { max_body_bytes: 1024 }, endpoints: [endpoint('up', sim)] });
    const big = JSON.stringify({ ...MESSAGE, messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const declared = await request(`${url}/v1/messages`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
    expect(declared.statusCode).toBe(413);
    expect(await declared.body.json()).toMatchObject({ error: { type: 'request_too_large' } });
    // Chunked, no content-length: the limit is enforced while reading.
    const chunked = await rawRequest(`${url}/v1/messages`, { method: 'POST', body: big, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toMatchObject({ error: { type: 'request_too_large' } });
    expect(sim.messageCalls).toBe(0);
  });

  it('answers 503 overloaded_error when no endpoint is usable', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim, { enabled: false })] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(503);
    expect(await res.body.json()).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('no usable endpoint') } });
  });

  it('answers 502 with a clear message when the only endpoint cannot be reached', async () => {
    const sim = await h.sim({ name: 'gone' });
    const deadUrl = sim.url;
    await sim.close();
    const { url } = await h.proxy({ version: 1, endpoints: [{ id: 'gone', base_url: deadUrl }] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(502);
    expect(await res.body.json()).toMatchObject({ error: { type: 'api_error', message: expect.stringContaining('gone: connect') } });
  });

  it('answers HEAD / and GET / at once, without auth', async () => {
    const { url } = await h.proxy({ version: 1, proxy: { access_keys: ['qcc-access-key-1'] }, endpoints: [] });
    const head = await request(`${url}/`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    await head.body.dump();
    const get = await request(`${url}/`);
    expect(get.statusCode).toBe(200);
    await get.body.dump();
  });
});

describe('access keys', () => {
  it('requires one of proxy.access_keys and never forwards it', async () => {
    const sim = await h.sim({ name: 'up' });
    const { url } = await h.proxy({ version: 1, proxy: { access_keys: ['qcc-access-key-1'] }, endpoints: [endpoint('up', sim)] });
    const denied = await sdk(url, { apiKey: 'wrong-key-123' }).messages.create(MESSAGE).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(sim.messageCalls).toBe(0);
    await sdk(url, { apiKey: 'qcc-access-key-1' }).messages.create(MESSAGE);
    await sdk(url, { authToken: 'qcc-access-key-1' }).messages.create(MESSAGE);
    expect(sim.messageCalls).toBe(2);
    for (const r of sim.requests) {
      expect(r.headers['x-api-key']).toBeUndefined();
      expect(r.headers.authorization).toBeUndefined();
    }
  });
});

describe('streaming behaviour', () => {
  it('delivers events as they arrive, not when the stream ends', async () => {
    const sim = await h.sim({ name: 'slow', behavior: { deltas: 6, deltaIntervalMs: 150 } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('slow', sim)] });
    const started = Date.now();
    const stream = sdk(url).messages.stream(MESSAGE);
    let firstDeltaAt = 0;
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta' && firstDeltaAt === 0) firstDeltaAt = Date.now() - started;
    }
    const total = Date.now() - started;
    expect(total).toBeGreaterThan(1000);
    expect(firstDeltaAt).toBeLessThan(total - 500);
  });

  it('aborts the upstream within a second when the client disconnects, without blaming the endpoint', async () => {
    const sim = await h.sim({ name: 'slow', behavior: { deltas: 100, deltaIntervalMs: 50 } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('slow', sim)] });
    const controller = new AbortController();
    const stream = sdk(url).messages.stream(MESSAGE, { signal: controller.signal });
    let seen = 0;
    await expect(
      (async () => {
        for await (const ev of stream) {
          if (ev.type === 'content_block_delta' && ++seen === 3) controller.abort();
        }
      })(),
    ).rejects.toThrow();
    const abortedAt = Date.now();
    await eventually(() => sim.abortedResponses === 1, 1000);
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(app.pool.get('slow')!.inflight).toBe(0);
    await sleep(200);
    const e = app.pool.get('slow')!;
    expect(e.failures).toBe(0);
    expect(e.breaker.state).toBe('closed');
  });

  it('sends an Anthropic error event when the upstream breaks mid-stream (no replay)', async () => {
    const sim = await h.sim({ name: 'flaky', behavior: { deltas: 10, resetAfterDeltas: 4 } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('flaky', sim)] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    expect(text).toContain('event: message_start');
    expect(text.trimEnd().split('\n\n').at(-1)).toMatch(/^event: error\ndata: \{"type":"error","error":\{"type":"api_error"/);
    expect(sim.messageCalls).toBe(1);
  });

  it('treats a stream that ends without message_stop as a failure and says so in-band', async () => {
    const sim = await h.sim({ name: 'cut', behavior: { deltas: 5, truncateAfterDeltas: 2 } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('cut', sim)] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    const text = await res.body.text();
    expect(text).toContain('without message_stop');
    expect(app.pool.get('cut')!.failures).toBe(1);
  });
});

describe('upstreams that do unusual things', () => {
  it('passes a gzip-compressed SSE stream through as opaque bytes instead of holding it', async () => {
    const { createServer } = await import('node:http');
    const { gzipSync, gunzipSync } = await import('node:zlib');
    const payload = gzipSync('event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":1}}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n');
    const upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip', 'content-length': payload.length });
      res.end(payload);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    h.onClose(() => new Promise<void>((r) => upstream.close(() => r())));
    const port = (upstream.address() as import('node:net').AddressInfo).port;
    const { url } = await h.proxy({ version: 1, endpoints: [{ id: 'gz', base_url: `http://127.0.0.1:${port}` }] });
    const res = await rawRequest(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.bytes).toString()).toContain('message_stop');
  });
});

describe('a relay that ignores stream: true', () => {
  it('has its JSON answer replayed as a well-formed stream, usage included', async () => {
    const sim = await h.sim({ name: 'nostream', behavior: { ignoreStream: true, answer: 'whole answer at once', usage: { cache_read_input_tokens: 12 } } });
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('nostream', sim)] });
    const text = await sdk(url).messages.stream(MESSAGE).finalText();
    expect(text).toBe('whole answer at once');
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = validateAnthropicStream(await res.body.text());
    expect(events[0]!.data).toMatchObject({ message: { usage: { cache_read_input_tokens: 12 } } });
    // A client that did not ask for a stream still gets the JSON as it was.
    const json = await sdk(url).messages.create(MESSAGE);
    expect(json.content).toEqual([{ type: 'text', text: 'whole answer at once' }]);
  });
});

describe('clients that hang up', () => {
  it('a client that disconnects mid-upload is recorded and never reaches an endpoint', async () => {
    const sim = await h.sim({ name: 'up' });
    const records: string[] = [];
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint('up', sim)] }, { observer: { requestFinished: (r) => records.push(`${r.status}`) } });
    const { request: httpRequest } = await import('node:http');
    const req = httpRequest(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100000' } });
    req.on('error', () => undefined);
    req.write('{"model":"claude-opus-4-8","messages":[');
    await sleep(50);
    req.destroy();
    await eventually(() => records.length === 1, 2000);
    expect(records).toEqual(['0']);
    expect(sim.messageCalls).toBe(0);
  });
});
