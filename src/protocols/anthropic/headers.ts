import type { IncomingHttpHeaders } from 'node:http';
import { withoutOAuthBeta } from './oauth.js';
import type { AuthMode } from '../../config/schema.js';
import type { ResponseHeaders } from '../../upstream/response-headers.js';
import type { RequestLines } from '../../server/request-lines.js';
import type { ClientResponse, ForwardedLines } from '../../server/client.js';

/** Headers that describe one hop, never the message (RFC 9110 §7.6.1), plus ones the proxy must set itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'expect',
  'host',
  'http2-settings',
]);

import type { HeaderMap, KeyHeader } from '../contract.js';

export type { HeaderMap, KeyHeader };

export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** Names listed in a `Connection` header are hop-by-hop for that message too. */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  // The usual values name no header: answer without splitting (this runs twice per request).
  if (value === undefined || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive') return undefined;
  const joined = Array.isArray(value) ? value.join(',') : value;
  const names = joined
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0 && s !== 'close' && s !== 'keep-alive');
  return names.length > 0 ? new Set(names) : undefined;
}

function isHopByHop(name: string, listed: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || (listed !== undefined && listed.has(name));
}

/** HOP_BY_HOP by the names' lengths: a response line's name is compared only with those of its own length. */
const HOP_BY_HOP_BY_LENGTH: (string[] | undefined)[] = [];
for (const name of HOP_BY_HOP) (HOP_BY_HOP_BY_LENGTH[name.length] ??= []).push(name);

/** isHopByHop for the `i`th of an upstream's response lines, without making its name a string. */
function isHopByHopLine(upstream: ResponseHeaders, i: number, listed: Set<string> | undefined): boolean {
  const candidates = HOP_BY_HOP_BY_LENGTH[upstream.nameLength(i)];
  if (candidates !== undefined) for (const name of candidates) if (upstream.nameIs(i, name)) return true;
  if (upstream.nameStartsWith(i, 'proxy-')) return true;
  if (listed !== undefined) for (const name of listed) if (upstream.nameIs(i, name)) return true;
  return false;
}


/** Is `name` a client header that carried qcc's own key (never forwarded)? */
function carriedOwnKey(dropped: KeyHeader | undefined, name: string): boolean {
  return dropped === 'both' ? name === 'x-api-key' || name === 'authorization' : name === dropped;
}

export interface UpstreamAuth {
  /** The endpoint's own key; undefined means "forward the client's credentials unchanged". */
  key: string | undefined;
  mode: AuthMode;
  /** A client header that carried the proxy's access key: never forwarded. */
  accessKeyHeader?: KeyHeader | undefined;
  /** The client's credential was a subscription token, replaced by the key: its `oauth-…` beta goes too. */
  oauthClient?: boolean | undefined;
}

/** With the key replacing a subscription token, anthropic-beta is the proxy's to write (see oauth.ts). */
function rewritesBeta(auth: UpstreamAuth): boolean {
  return auth.key !== undefined && auth.oauthClient === true;
}

/**
 * Headers for the upstream request: the client's headers unchanged except hop-by-hop ones, credentials replaced
 * by the endpoint's own when it has one, and `anthropic-version` added only when the client sent none.
 */
export function upstreamRequestHeaders(client: IncomingHttpHeaders, auth: UpstreamAuth, bodyLength: number | undefined): HeaderMap {
  const listed = connectionListed(client.connection);
  const out: HeaderMap = {};
  // The client's credentials are left out as the headers are copied (not deleted afterwards: a delete turns the
  // object into a slow dictionary), when the endpoint has its own key or they carried the proxy's access key.
  const ownKey = auth.key !== undefined;
  const dropped = auth.accessKeyHeader;
  for (const name in client) {
    const value = client[name];
    if (value === undefined || isHopByHop(name, listed) || name === 'content-length') continue;
    if ((ownKey && (name === 'x-api-key' || name === 'authorization')) || (dropped !== undefined && carriedOwnKey(dropped, name))) continue;
    if (name === 'anthropic-beta' && rewritesBeta(auth)) continue;
    out[name] = value;
  }
  addOwnRequestHeaders(out, client['anthropic-version'] !== undefined, auth, client['anthropic-beta']);
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  return out;
}

/** The endpoint's credentials, and `anthropic-version` when the client sent none. */
function addOwnRequestHeaders(out: HeaderMap, clientHasVersion: boolean, auth: UpstreamAuth, clientBeta: string | string[] | undefined): HeaderMap {
  if (auth.key !== undefined) {
    if (auth.mode !== 'bearer') out['x-api-key'] = auth.key;
    if (auth.mode !== 'x-api-key') out.authorization = `Bearer ${auth.key}`;
  }
  if (rewritesBeta(auth) && clientBeta !== undefined) {
    const beta = withoutOAuthBeta(Array.isArray(clientBeta) ? clientBeta.join(',') : clientBeta);
    if (beta !== undefined) out['anthropic-beta'] = beta;
  }
  if (!clientHasVersion) out['anthropic-version'] = DEFAULT_ANTHROPIC_VERSION;
  return out;
}

/**
 * upstreamRequestHeaders for a request whose header lines qcc's front server has read and validated: the
 * client's lines that go on, as text (`lines`, each preceded by CRLF), and the proxy's own headers (`own`).
 * `replaced` names one more client header the caller sets itself in `own` (accept-encoding for a stream).
 * Built from the lines rather than the object: copying ~20 headers into a second object and writing them out
 * one by one cost more than cutting the lines that stay out of the text.
 */
export function upstreamRequestLines(lines: RequestLines, auth: UpstreamAuth, replaced?: string): { lines: string; own: HeaderMap } {
  const listed = connectionListed(lines.get('connection'));
  const ownKey = auth.key !== undefined;
  const dropped = auth.accessKeyHeader;
  const names = lines.names;
  let text = '';
  let kept = 0; // lines [kept, i) are still to be copied, as one slice
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const leftOut =
      isHopByHop(name, listed) ||
      name === 'content-length' ||
      name === replaced ||
      (dropped !== undefined && carriedOwnKey(dropped, name)) ||
      (ownKey && (name === 'x-api-key' || name === 'authorization')) ||
      (name === 'anthropic-beta' && rewritesBeta(auth));
    if (!leftOut) continue;
    text += lines.lines(kept, i);
    kept = i + 1;
  }
  text += lines.lines(kept, names.length);
  return { lines: text, own: addOwnRequestHeaders({}, lines.has('anthropic-version'), auth, rewritesBeta(auth) ? lines.get('anthropic-beta') : undefined) };
}

/**
 * Response headers for the client: the upstream's, minus hop-by-hop ones (the server frames the body itself).
 * A Content-Length that came with a Transfer-Encoding is dropped too: it does not describe the body the client
 * gets (RFC 9112 §6.3), which the upstream client has already decoded.
 */
export function clientResponseHeaders(upstream: IncomingHttpHeaders): HeaderMap {
  const listed = connectionListed(upstream.connection);
  const framedByEncoding = upstream['transfer-encoding'] !== undefined;
  const out: HeaderMap = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || isHopByHop(name, listed) || (framedByEncoding && name === 'content-length')) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The same, as the lines the upstream sent (see ResponseHeaders): no object is made for them.
 * `reframe`: the body will not go out as the upstream framed it (a stream qcc may end with its own error event),
 * so its Content-Length is dropped and the server frames it as chunked. (A Content-Length the upstream repeated
 * or listed never gets here: the response parser refuses it.)
 */
export function forwardedLines(upstream: ResponseHeaders, reframe = false): ForwardedLines {
  const listed = connectionListed(upstream.get('connection'));
  const framedByEncoding = upstream.has('transfer-encoding');
  let text = '';
  let kept = 0; // lines [kept, i) are still to be copied, as one slice
  let contentLength: string | undefined;
  let date = false;
  for (let i = 0; i < upstream.size; i++) {
    const isLength = upstream.nameIs(i, 'content-length');
    if (isHopByHopLine(upstream, i, listed) || (isLength && (framedByEncoding || reframe))) {
      text += upstream.lines(kept, i);
      kept = i + 1;
    } else if (isLength) {
      contentLength = upstream.value(i);
    } else if (upstream.nameIs(i, 'date')) {
      date = true;
    }
  }
  text += upstream.lines(kept, upstream.size);
  return { text, contentLength, date };
}

/**
 * Write the upstream's status and headers (minus hop-by-hop ones) and the proxy's own to the client: as text when
 * the response can take it, as an object otherwise.
 */
export function forwardHead(res: ClientResponse, status: number, upstream: ResponseHeaders, own: HeaderMap, reframe = false): void {
  if (res.writeForwardedHead !== undefined) return void res.writeForwardedHead(status, forwardedLines(upstream, reframe), own);
  const headers = Object.assign(clientResponseHeaders(upstream.object), own);
  if (reframe) delete headers['content-length'];
  res.writeHead(status, headers);
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
