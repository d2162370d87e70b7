import { HTTP_TOKEN as TOKEN } from '../shared/http-grammar.js';
import { UpstreamError, type UpstreamRequest } from './types.js';

/** The request line and header block the client writes, with the checks that keep a caller from smuggling. */

/** Header fields the client frames itself: never taken from the caller. */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const INVALID_VALUE = /[\r\n\0]/;
const INVALID_TARGET = /[\s\0]/;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** The request line and header block, or an error naming what a caller got wrong. */
export function requestHead(req: UpstreamRequest, host: string): string {
  if (!TOKEN.test(req.method)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid method "${req.method}"`, true);
  if (!req.path.startsWith('/') || INVALID_TARGET.test(req.path)) throw new UpstreamError('QCC_BAD_REQUEST', 'invalid request path', true);
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${host}${req.headerLines ?? ''}\r\n`;
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name]!;
    const lower = name.toLowerCase();
    if (OWN_HEADERS.has(lower)) continue;
    if (!TOKEN.test(name)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid header name "${name.slice(0, 40)}"`, true);
    if (typeof value === 'string') {
      if (INVALID_VALUE.test(value)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid value for header ${name}`, true);
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        if (INVALID_VALUE.test(v)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid value for header ${name}`, true);
        head += `${name}: ${v}\r\n`;
      }
    }
  }
  if (req.body !== null) head += `content-length: ${req.body.length}\r\n`;
  else if (METHODS_WITH_BODY.has(req.method)) head += 'content-length: 0\r\n';
  return `${head}\r\n`;
}
