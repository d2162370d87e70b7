import { describe, expect, it } from 'vitest';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/proxy/headers.js';
import { upstreamPath, upstreamTarget } from '../../src/proxy/upstream-url.js';

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
});
