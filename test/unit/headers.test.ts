import { describe, expect, it } from 'vitest';
import type { IncomingHttpHeaders } from 'node:http';
import { clientResponseHeaders, forwardedLines, upstreamRequestHeaders, upstreamRequestLines, type UpstreamAuth } from '../../src/protocols/anthropic/headers.js';
import { parseFastHead } from '../../src/server/request-head.js';
import { ResponseParser } from '../../src/upstream/response-parser.js';
import type { ResponseHeaders } from '../../src/upstream/response-headers.js';
import { upstreamPath, upstreamTarget } from '../../src/endpoints/upstream-url.js';

describe('upstream URL joining', () => {
  it.each([
    ['https://api.anthropic.com', '/v1/messages?beta=true', 'https://api.anthropic.com', '/v1/messages?beta=true'],
    ['https://api.anthropic.com/', '/v1/messages', 'https://api.anthropic.com', '/v1/messages'],
    ['https://api.anthropic.com/v1', '/v1/messages', 'https://api.anthropic.com', '/v1/messages'],
    ['https://api.anthropic.com/v1/', '/v1/messages/count_tokens', 'https://api.anthropic.com', '/v1/messages/count_tokens'],
    ['https://relay.example/api/anthropic', '/v1/messages?beta=true', 'https://relay.example', '/api/anthropic/v1/messages?beta=true'],
    ['https://relay.example/api/anthropic//', '/v1/models', 'https://relay.example', '/api/anthropic/v1/models'],
    ['http://127.0.0.1:8080/x/v1', '/v1/messages', 'http://127.0.0.1:8080', '/x/v1/messages'],
  ])('%s + %s', (base, path, origin, expected) => {
    const t = upstreamTarget(base);
    expect(t.origin).toBe(origin);
    expect(upstreamPath(t, path)).toBe(expected);
  });
});

describe('request headers', () => {
  const client = {
    host: '127.0.0.1:7860',
    connection: 'keep-alive, x-hop',
    'x-hop': '1',
    'keep-alive': 'timeout=5',
    te: 'trailers',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    'proxy-authorization': 'Basic x',
    expect: '100-continue',
    'content-length': '999',
    'x-api-key': 'client-key',
    authorization: 'Bearer client-token',
    'anthropic-beta': 'a,b',
    'anthropic-version': '2026-10-21',
    'x-stainless-os': 'Linux',
  };

  it('strips hop-by-hop headers and those named in Connection, keeps the rest', () => {
    const h = upstreamRequestHeaders(client, { key: undefined, mode: 'auto' }, 12);
    expect(Object.keys(h).sort()).toEqual(['anthropic-beta', 'anthropic-version', 'authorization', 'content-length', 'x-api-key', 'x-stainless-os']);
    expect(h['content-length']).toBe('12');
    expect(h['anthropic-version']).toBe('2026-10-21');
  });

  it.each([
    ['auto', 'ep', 'Bearer ep'],
    ['x-api-key', 'ep', undefined],
    ['bearer', undefined, 'Bearer ep'],
  ] as const)('an endpoint key in mode %s replaces the client credentials', (mode, xApiKey, authorization) => {
    const h = upstreamRequestHeaders(client, { key: 'ep', mode }, undefined);
    expect(h['x-api-key']).toBe(xApiKey);
    expect(h.authorization).toBe(authorization);
  });

  it('drops the header that carried the proxy access key on pass-through', () => {
    const h = upstreamRequestHeaders(client, { key: undefined, mode: 'auto', accessKeyHeader: 'x-api-key' }, undefined);
    expect(h['x-api-key']).toBeUndefined();
    expect(h.authorization).toBe('Bearer client-token');
  });

  it('adds anthropic-version only when missing', () => {
    expect(upstreamRequestHeaders({}, { key: 'k', mode: 'auto' }, 0)['anthropic-version']).toBe('2023-06-01');
  });
});

describe('response headers', () => {
  it('keeps rate-limit and retry headers, drops framing', () => {
    const h = clientResponseHeaders({
      'retry-after': '3',
      'x-should-retry': 'true',
      'anthropic-ratelimit-requests-remaining': '9',
      'request-id': 'req_1',
      'transfer-encoding': 'chunked',
      connection: 'close',
      'set-cookie': ['a=1', 'b=2'],
    });
    expect(h).toEqual({
      'retry-after': '3',
      'x-should-retry': 'true',
      'anthropic-ratelimit-requests-remaining': '9',
      'request-id': 'req_1',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('drops a Content-Length that came with a Transfer-Encoding: it does not describe the decoded body', () => {
    expect(clientResponseHeaders({ 'transfer-encoding': 'chunked', 'content-length': '99', 'request-id': 'r' })).toEqual({ 'request-id': 'r' });
  });
});

/** The headers of a response head as the upstream client's parser hands them over. */
/** The head as the response parser reads it; undefined when the parser refuses it (e.g. both framings). */
function headersOrRefused(lines: string[]): ResponseHeaders | undefined {
  try {
    return parsedHeaders(lines);
  } catch {
    return undefined;
  }
}

function parsedHeaders(lines: string[]): ResponseHeaders {
  let out: ResponseHeaders | undefined;
  const parser = new ResponseParser({ onHead: (_s, h) => (out = h), onBody: () => undefined, onComplete: () => undefined });
  parser.expect(true);
  parser.execute(Buffer.from(`HTTP/1.1 200 OK\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1'));
  return out!;
}

/** Lines as a client reads them: names lower-cased, values trimmed, repeats joined (set-cookie kept a list). */
function asClientReads(text: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const line of text.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = out[name];
    if (prev === undefined) out[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = `${prev}, ${value}`;
  }
  return out;
}

describe('response header lines passed on as text', () => {
  it('keeps every other line byte for byte, in order, and drops the hop-by-hop ones', () => {
    const h = parsedHeaders([
      'Content-Type: application/json',
      'Connection: keep-alive, X-Hop',
      'anthropic-ratelimit-requests-remaining:  9 ',
      'Keep-Alive: timeout=5',
      'X-Hop: dropped because Connection names it',
      'Date: Sat, 28 Nov 2026 21:00:00 GMT',
      'Set-Cookie: a=1',
      'Set-Cookie: b=2',
      'Content-Length: 12',
      'Proxy-Authenticate: Basic',
    ]);
    expect(forwardedLines(h)).toEqual({
      text: [
        '',
        'Content-Type: application/json',
        'anthropic-ratelimit-requests-remaining:  9 ',
        'Date: Sat, 28 Nov 2026 21:00:00 GMT',
        'Set-Cookie: a=1',
        'Set-Cookie: b=2',
        'Content-Length: 12',
      ].join('\r\n'),
      contentLength: '12',
      date: true,
    });
  });

  it('passes the whole block on when nothing is dropped, and says when there is no length or date', () => {
    const h = parsedHeaders(['request-id: req_1', 'via: 1.1 google']);
    expect(forwardedLines(h)).toEqual({ text: h.block, contentLength: undefined, date: false });
    expect(forwardedLines(parsedHeaders([]))).toEqual({ text: '', contentLength: undefined, date: false });
  });

  it('never sees a Content-Length with a Transfer-Encoding, nor a repeated one: the parser refuses those heads', () => {
    expect(headersOrRefused(['Transfer-Encoding: chunked', 'Content-Length: 99', 'request-id: r'])).toBeUndefined();
    expect(headersOrRefused(['Content-Length: 2', 'Content-Length: 2'])).toBeUndefined();
    expect(headersOrRefused(['Content-Length: 2, 2'])).toBeUndefined();
  });

  it('drops the Content-Length when the body is re-framed (a stream that goes out chunked)', () => {
    const h = parsedHeaders(['content-type: text/event-stream', 'Content-Length: 99', 'request-id: r']);
    expect(forwardedLines(h, true)).toEqual({ text: '\r\ncontent-type: text/event-stream\r\nrequest-id: r', contentLength: undefined, date: false });
    expect(forwardedLines(h).contentLength).toBe('99');
  });

  it('says what the object path says, for 500 random heads', () => {
    const names = ['content-type', 'Content-Length', 'connection', 'Keep-Alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-x', 'x-a', 'X-B', 'set-cookie', 'date', 'request-id', 'retry-after'];
    const values = ['1', ' spaced\t', 'a, b', 'x-a', 'close', 'keep-alive, x-b', 'chunked', ''];
    let seed = 7;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let run = 0; run < 500; run++) {
      const lines = Array.from({ length: next(12) }, () => `${names[next(names.length)]}:${values[next(values.length)]}`);
      const h = headersOrRefused(lines);
      if (h === undefined) continue; // a head the parser refuses never reaches the client
      const forwarded = forwardedLines(h);
      const expected = clientResponseHeaders(h.object);
      expect(asClientReads(forwarded.text), lines.join(' | ')).toEqual(Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, k === 'set-cookie' && !Array.isArray(v) ? [v] : v])));
      expect(forwarded.contentLength).toBe(expected['content-length']);
      expect(forwarded.date).toBe(expected.date !== undefined);
    }
  });
});

describe('request header lines passed on as text', () => {
  /** A head as qcc's front server reads it (undefined when it would hand it to Node). */
  const head = (lines: string[]) => parseFastHead(`POST /v1/messages HTTP/1.1\r\n${lines.join('\r\n')}`);

  it('keeps the lines that go on byte for byte, in order, and leaves the credentials and framing to the proxy', () => {
    const h = head(['Host: 127.0.0.1:7860', 'Content-Length: 2', 'X-Api-Key: client-key', 'anthropic-beta:  a,b ', 'Connection: keep-alive', 'Accept-Encoding: gzip', 'x-app: cli']);
    expect(h).toBeDefined();
    const out = upstreamRequestLines(h!.lines, { key: 'ep', mode: 'x-api-key' }, 'accept-encoding');
    expect(out.lines).toBe('\r\nanthropic-beta:  a,b \r\nx-app: cli');
    expect(out.own).toEqual({ 'x-api-key': 'ep', 'anthropic-version': '2023-06-01' });
  });

  it('says what the object path says, for 2,000 random heads and credentials', () => {
    const names = ['host', 'Content-Length', 'connection', 'keep-alive', 'te', 'trailer', 'proxy-x', 'x-api-key', 'Authorization', 'anthropic-version', 'anthropic-beta', 'accept-encoding', 'x-a', 'X-B', 'user-agent'];
    const values = ['1', ' spaced\t', 'a, b', 'x-a', 'close', 'keep-alive, x-b', 'Bearer t', ''];
    const auths: UpstreamAuth[] = [
      { key: undefined, mode: 'auto' },
      { key: 'ep', mode: 'auto' },
      { key: 'ep', mode: 'bearer' },
      { key: 'ep', mode: 'x-api-key' },
      { key: undefined, mode: 'auto', accessKeyHeader: 'x-api-key' },
      { key: undefined, mode: 'auto', accessKeyHeader: 'authorization' },
    ];
    let seed = 11;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    let compared = 0;
    for (let run = 0; run < 2000; run++) {
      const lines = ['host: x', 'content-length: 2', ...Array.from({ length: next(10) }, () => `${names[next(names.length)]}:${values[next(values.length)]}`)];
      const h = head(lines);
      if (h === undefined) continue; // Node's to read (a repeated name, a Connection token list, …)
      const auth = auths[next(auths.length)]!;
      const replaced = next(2) === 0 ? 'accept-encoding' : undefined;
      const viaObject = upstreamRequestHeaders(h.lines.object, auth, undefined);
      if (replaced) viaObject[replaced] = 'identity';
      const viaLines = upstreamRequestLines(h.lines, auth, replaced);
      if (replaced) viaLines.own[replaced] = 'identity';
      const readBack: Record<string, string | string[]> = {};
      for (const line of viaLines.lines.split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        readBack[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      expect({ ...readBack, ...viaLines.own }, lines.join(' | ')).toEqual(viaObject);
      compared++;
    }
    expect(compared).toBeGreaterThan(500);
  });
});

