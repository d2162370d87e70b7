// The headers the real Messages API sends with an answer besides framing and content type: its rate limits,
// request and organisation ids, and its CDN's. ~1 KB in 21 lines; names as the API documents them, values of
// the usual lengths. The simulator sends them in run.mjs's "the real API's headers" rows, and in ab.mjs and
// rounds.mjs with HEADERS=api, so that every proxy measured there reads, filters and writes as many headers as
// it would in front of the real API.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const reset = '2026-11-28T21:40:01Z';
export const API_HEADERS = {
  'request-id': 'req_011CVa8d4Nq3kHhWm2pXyZbE',
  'anthropic-organization-id': '0b7f3c2e-5f1a-4c8e-9d2b-7a6e5c4d3b2a',
  'anthropic-ratelimit-requests-limit': '4000',
  'anthropic-ratelimit-requests-remaining': '3999',
  'anthropic-ratelimit-requests-reset': reset,
  'anthropic-ratelimit-input-tokens-limit': '2000000',
  'anthropic-ratelimit-input-tokens-remaining': '1998000',
  'anthropic-ratelimit-input-tokens-reset': reset,
  'anthropic-ratelimit-output-tokens-limit': '400000',
  'anthropic-ratelimit-output-tokens-remaining': '399000',
  'anthropic-ratelimit-output-tokens-reset': reset,
  'anthropic-ratelimit-tokens-limit': '2400000',
  'anthropic-ratelimit-tokens-remaining': '2397000',
  'anthropic-ratelimit-tokens-reset': reset,
  'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
  via: '1.1 google',
  'cf-cache-status': 'DYNAMIC',
  'x-robots-tag': 'none',
  server: 'cloudflare',
  'cf-ray': '8e7f6a5b4c3d2e1f-SJC',
  'x-envoy-upstream-service-time': '812',
};

/** The simulator behaviour's extra headers for the HEADERS setting: 'few' (none, the default) or 'api'. */
export function simHeaders(setting = process.env.HEADERS ?? 'few') {
  if (setting === 'api') return { headers: API_HEADERS };
  if (setting === 'few') return {};
  throw new Error(`HEADERS=${setting}: expected api or few`);
}

/**
 * The headers Claude Code sent with its first turn (test/fixtures/claude-code-2.1.197-messages-head.json), less
 * the ones the load generator sets itself (host, framing, connection) and the redacted key (it sends its own).
 */
export function claudeCodeHeaders() {
  const captured = JSON.parse(readFileSync(join(import.meta.dirname, '../test/fixtures/claude-code-2.1.197-messages-head.json'), 'utf8')).headers;
  return Object.fromEntries(Object.entries(captured).filter(([name]) => !['host', 'content-length', 'connection', 'x-api-key'].includes(name)));
}
