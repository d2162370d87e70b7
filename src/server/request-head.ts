import { fieldValue, HeaderMemo } from './header-memo.js';
import { RequestLines } from './request-lines.js';

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
  /** The header lines as sent: looked up by name, passed on as text, made into Node's object when asked for. */
  lines: RequestLines;
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

/** Header names as the last head had them at each position (see header-memo.ts). */
const memo = new HeaderMemo();

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

  const names: string[] = [];
  const starts: number[] = [];
  const seen = new Set<string>();
  let host = false;
  let length: string | undefined;
  let connection: string | undefined;
  let lineStart = 2;
  while (lineStart < block.length) {
    if (names.length === MAX_FAST_HEADERS) return undefined;
    let lineEnd = block.indexOf('\r\n', lineStart);
    if (lineEnd === -1) lineEnd = block.length;
    const colon = block.indexOf(':', lineStart);
    const name = memo.name(block, lineStart, colon, names.length);
    // A repeated name is left to Node: it joins some, keeps the first of others, refuses a second Content-Length.
    if (seen.has(name)) return undefined;
    seen.add(name);
    // The few names the fast path decides on, told apart by length first.
    switch (name.length) {
      case 4:
        if (name === 'host') host = true;
        break;
      case 9:
        if (name === '__proto__') return undefined; // not a name to make an object's key of
        break;
      case 6:
      case 7:
      case 17:
        // Framing and connection management other than the plain case belong to Node's server.
        if (name === 'expect' || name === 'upgrade' || name === 'transfer-encoding') return undefined;
        break;
      case 10:
        if (name === 'connection') connection = fieldValue(block, colon + 1, lineEnd);
        break;
      case 14:
        if (name === 'content-length') length = fieldValue(block, colon + 1, lineEnd);
        break;
    }
    names.push(name);
    starts.push(lineStart - 2);
    lineStart = lineEnd + 2;
  }

  if (!host) return undefined; // Node answers 400 to an HTTP/1.1 request without Host
  const method = line[1] as FastMethod;
  const url = line[2]!;
  if (method === 'POST') {
    if (url === '/' || length === undefined || !DIGITS.test(length)) return undefined;
  } else if (length !== undefined && length !== '0') {
    return undefined; // a GET or HEAD with a body is Node's to read
  }
  let keepAlive = true;
  if (connection !== undefined) {
    const c = connection.toLowerCase();
    if (c === 'close') keepAlive = false;
    else if (c !== 'keep-alive') return undefined; // a token list (e.g. naming headers) is Node's to interpret
  }
  return { method, url, lines: new RequestLines(block, names, starts), contentLength: length === undefined ? 0 : Number(length), keepAlive };
}
