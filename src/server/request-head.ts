import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request heads qcc's front server answers itself: the API's own traffic (`POST /v1/…` with a
 * Content-Length body, `GET /v1/…` without one) and Claude Code's warm-up (`HEAD /`, `GET /`), HTTP/1.1, written
 * the way every HTTP client writes them. The warm-up matters: it opens the connection Claude Code then reuses
 * for its turns, and a connection handed to Node's server stays there. Anything else — another method or path,
 * chunked or `Expect: 100-continue` uploads, upgrades, HTTP/1.0, a repeated header, a byte outside the plain
 * grammar — is not parsed here at all: the connection is handed to Node's HTTP server, which stays the authority
 * on everything unusual (its errors, its limits, its leniencies). So this parser only has to recognise a strict
 * subset correctly; it never has to reject anything well.
 */
export interface FastRequestHead {
  method: FastMethod;
  /** The request target as sent (origin form, query string included). */
  url: string;
  /** Lower-case names, values trimmed of surrounding whitespace, as Node's IncomingMessage has them. */
  headers: IncomingHttpHeaders;
  contentLength: number;
  /** False when the client sent `Connection: close`. */
  keepAlive: boolean;
}

/** Node's own limit on a request head (`--max-http-header-size`, 16 KB); past it Node answers 431. */
export const MAX_FAST_HEAD_BYTES = 16 * 1024;

export type FastMethod = 'POST' | 'GET' | 'HEAD';

/** A method, then `/` or an origin-form target under /v1/ made of RFC 3986 characters only, then HTTP/1.1. */
const REQUEST_LINE = /^(POST|GET|HEAD) (\/|\/v1\/[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]*) HTTP\/1\.1$/;
/** Header lines, each preceded by CRLF: a token, a colon, then visible ASCII, spaces and tabs only. */
const HEADER_BLOCK = /^(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e]*)+$/;
const DIGITS = /^\d{1,15}$/;
/** Node keeps at most 2,000 header lines and drops the rest; far fewer is normal (Claude Code sends ~20). */
const MAX_FAST_HEADERS = 200;

/**
 * The previous head's header names (as sent and lower-cased) and values, by position. A client sends the same
 * headers in the same order on every request, most with the same values (Claude Code: 21 lines, ~17 unchanged
 * from turn to turn), and a string compared in place with the one at that position last time is reused instead
 * of being sliced out, lower-cased, and (for a name) hashed again as a property key.
 */
const previousRawNames: string[] = [];
const previousNames: string[] = [];
const previousValues: string[] = [];

function nameAt(block: string, start: number, colon: number, position: number): string {
  const raw = previousRawNames[position];
  if (raw !== undefined && raw.length === colon - start && block.startsWith(raw, start)) return previousNames[position]!;
  const sent = block.slice(start, colon);
  const name = sent.toLowerCase();
  previousRawNames[position] = sent;
  previousNames[position] = name;
  return name;
}

/** The value between `start` (after the colon) and `end`, without surrounding spaces and tabs. */
function valueAt(block: string, start: number, end: number, position: number): string {
  while (start < end && isBlank(block.charCodeAt(start))) start++;
  while (end > start && isBlank(block.charCodeAt(end - 1))) end--;
  const known = previousValues[position];
  if (known !== undefined && known.length === end - start && block.startsWith(known, start)) return known;
  const value = block.slice(start, end);
  previousValues[position] = value;
  return value;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Read a request head (the text before its blank line, decoded as latin1). Undefined means "not for the fast
 * path": the caller hands the connection to Node's HTTP server with the bytes unread.
 */
export function parseFastHead(text: string): FastRequestHead | undefined {
  const firstEol = text.indexOf('\r\n');
  if (firstEol === -1) return undefined;
  const line = REQUEST_LINE.exec(text.slice(0, firstEol));
  if (line === null) return undefined;
  const block = text.slice(firstEol);
  if (!HEADER_BLOCK.test(block)) return undefined;

  const headers: IncomingHttpHeaders = {};
  let lineStart = 2;
  let count = 0;
  while (lineStart < block.length) {
    if (++count > MAX_FAST_HEADERS) return undefined;
    let lineEnd = block.indexOf('\r\n', lineStart);
    if (lineEnd === -1) lineEnd = block.length;
    const colon = block.indexOf(':', lineStart);
    const name = nameAt(block, lineStart, colon, count - 1);
    // A repeated name is left to Node: it joins some, keeps the first of others, refuses a second Content-Length.
    if (headers[name] !== undefined) return undefined;
    headers[name] = valueAt(block, colon + 1, lineEnd, count - 1);
    lineStart = lineEnd + 2;
  }

  // Framing and connection management other than the plain case belong to Node's server.
  if (headers['transfer-encoding'] !== undefined || headers.expect !== undefined || headers.upgrade !== undefined) return undefined;
  if (headers.host === undefined) return undefined; // Node answers 400 to an HTTP/1.1 request without Host
  const method = line[1] as FastMethod;
  const url = line[2]!;
  const length = headers['content-length'];
  if (method === 'POST') {
    if (url === '/' || length === undefined || !DIGITS.test(length)) return undefined;
  } else if (length !== undefined && length !== '0') {
    return undefined; // a GET or HEAD with a body is Node's to read
  }
  const connection = headers.connection;
  let keepAlive = true;
  if (connection !== undefined) {
    const c = connection.toLowerCase();
    if (c === 'close') keepAlive = false;
    else if (c !== 'keep-alive') return undefined; // a token list (e.g. naming headers) is Node's to interpret
  }
  return { method, url, headers, contentLength: length === undefined ? 0 : Number(length), keepAlive };
}
