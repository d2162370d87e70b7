import type { IncomingHttpHeaders } from 'node:http';
import type { AuthMode } from '../config/schema.js';

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

export type HeaderMap = Record<string, string | string[]>;

export const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** Names listed in a `Connection` header are hop-by-hop for that message too. */
function connectionListed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
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

export interface UpstreamAuth {
  /** The endpoint's own key; undefined means "forward the client's credentials unchanged". */
  key: string | undefined;
  mode: AuthMode;
  /** A client header that carried the proxy's access key: never forwarded. */
  accessKeyHeader?: 'x-api-key' | 'authorization' | undefined;
}

/**
 * Headers for the upstream request: the client's headers unchanged except hop-by-hop ones, credentials replaced
 * by the endpoint's own when it has one, and `anthropic-version` added only when the client sent none.
 */
export function upstreamRequestHeaders(client: IncomingHttpHeaders, auth: UpstreamAuth, bodyLength: number | undefined): HeaderMap {
  const listed = connectionListed(client);
  const out: HeaderMap = {};
  // The client's credentials are left out as the headers are copied (not deleted afterwards: a delete turns the
  // object into a slow dictionary), when the endpoint has its own key or they carried the proxy's access key.
  const ownKey = auth.key !== undefined;
  const dropped = auth.accessKeyHeader;
  for (const name in client) {
    const value = client[name];
    if (value === undefined || isHopByHop(name, listed) || name === 'content-length') continue;
    if ((ownKey && (name === 'x-api-key' || name === 'authorization')) || name === dropped) continue;
    out[name] = value;
  }
  if (auth.key !== undefined) {
    if (auth.mode !== 'bearer') out['x-api-key'] = auth.key;
    if (auth.mode !== 'x-api-key') out.authorization = `Bearer ${auth.key}`;
  }
  if (out['anthropic-version'] === undefined) out['anthropic-version'] = DEFAULT_ANTHROPIC_VERSION;
  if (bodyLength !== undefined) out['content-length'] = String(bodyLength);
  return out;
}

/** Response headers for the client: the upstream's, minus hop-by-hop ones (Node frames the body itself). */
export function clientResponseHeaders(upstream: IncomingHttpHeaders): HeaderMap {
  const listed = connectionListed(upstream);
  const out: HeaderMap = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || isHopByHop(name, listed)) continue;
    out[name] = value;
  }
  return out;
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
