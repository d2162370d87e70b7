/**
 * Cases for differential tests and fuzz runs: plausible HTTP/1.1 responses and requests, and byte-level
 * mutations of them. Deterministic for a given random source (tests seed it), so a failure names its case.
 * Used by test/integration/parser-differential.test.ts and bench/fuzz.mjs.
 */

type Rand = () => number;

function pick<T>(rand: Rand, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

const REASONS = ['OK', 'Created', '', 'Whatever'];

/** A plausible response: status, a few headers, and a body framed by Content-Length, chunked, or the close. */
export function generateResponse(rand: Rand): string {
  const pick1 = <T>(xs: readonly T[]): T => pick(rand, xs);
  const status = pick1([200, 200, 200, 201, 204, 304, 400, 429, 500, 529]);
  const body = pick1(['', '{}', '{"type":"message"}', 'event: ping\ndata: {}\n\n', 'x'.repeat(Math.floor(rand() * 300))]);
  const headers: string[] = [pick1(['Content-Type: application/json', 'content-type: text/event-stream', 'Content-Type:application/json'])];
  if (rand() < 0.3) headers.push(pick1(['X-Request-Id: req_1', 'anthropic-ratelimit-requests-remaining: 9', 'Connection: keep-alive', 'Connection: close', 'Keep-Alive: timeout=5']));
  const framing = pick1(['length', 'length', 'chunked', 'chunked', 'close', 'both']);
  let bodyText = body;
  if (framing === 'length' || framing === 'both') headers.push(`Content-Length: ${Buffer.byteLength(body)}`);
  if (framing === 'chunked' || framing === 'both') {
    headers.push(pick1(['Transfer-Encoding: chunked', 'transfer-encoding: chunked', 'Transfer-Encoding: gzip, chunked']));
    bodyText = chunked(body, rand);
  }
  // Now and then a head near llhttp's 16 KiB limit, on either side of it.
  if (rand() < 0.03) headers.push(`X-Big: ${'a'.repeat(15_000 + Math.floor(rand() * 3_000))}`);
  if (rand() < 0.5) headers.sort(() => rand() - 0.5);
  return `HTTP/1.${rand() < 0.9 ? 1 : 0} ${status} ${pick1(REASONS)}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${bodyText}`;
}

function chunked(body: string, rand: Rand): string {
  let out = '';
  let at = 0;
  while (at < body.length) {
    const n = Math.max(1, Math.floor(rand() * 40));
    const piece = body.slice(at, at + n);
    at += n;
    out += `${piece.length.toString(16)}${rand() < 0.1 ? ';ext=1' : ''}\r\n${piece}\r\n`;
  }
  return `${out}0\r\n${rand() < 0.15 ? 'X-Trailer: 1\r\n' : ''}\r\n`;
}

/** Byte strings that, inserted or substituted, make the cases framing parsers get wrong. */
const INTERESTING = ['\n', '\r', '\r\n', ' ', '\t', '\0', '\x7f', ',', '-', '0x', ':', ';', '0', 'ff', '\r\n\r\n', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: identity\r\n', '\x01', 'é'];

/** One to three mutations: a byte replaced, deleted or inserted, or an interesting string put in. */
export function mutate(text: string, rand: Rand): string {
  let out = text;
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (out.length + 1));
    const r = rand();
    if (r < 0.25) out = out.slice(0, at) + out.slice(at + 1);
    else if (r < 0.5) out = out.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + out.slice(at + 1);
    else out = out.slice(0, at) + INTERESTING[Math.floor(rand() * INTERESTING.length)]! + out.slice(at);
  }
  return out;
}


const REQUEST_HEADERS = [
  'anthropic-version: 2023-06-01',
  'anthropic-beta: claude-code-20250219,interleaved-thinking-2025-05-14',
  'x-api-key: client-key',
  'authorization: Bearer client-token',
  'user-agent: claude-cli/2.1.197 (external, cli)',
  'x-app: cli',
  'accept: application/json',
  'accept-encoding: gzip, deflate, br, zstd',
  'connection: keep-alive',
];

/** A plausible client request: Claude Code's kind of head and a small Messages body, framed by Content-Length. */
export function generateRequest(rand: Rand): string {
  const stream = rand() < 0.5;
  const body = JSON.stringify({ model: pick(rand, ['claude-haiku-4-5-20251001', 'claude-sonnet-5']), max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] });
  const headers = ['host: 127.0.0.1:7860', 'content-type: application/json', ...REQUEST_HEADERS.filter(() => rand() < 0.6), `content-length: ${Buffer.byteLength(body)}`];
  if (rand() < 0.5) headers.sort(() => rand() - 0.5);
  const path = pick(rand, ['/v1/messages', '/v1/messages?beta=true', '/v1/messages/count_tokens']);
  return `POST ${path} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}
