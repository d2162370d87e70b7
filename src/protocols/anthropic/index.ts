import type { EndpointRuntime } from '../../endpoints/endpoint.js';
import { upstreamPath } from '../../endpoints/upstream-url.js';
import { clientLines } from '../../server/client.js';
import type { HeaderMap, MessagesCall, ParsedRequest, Protocol, UpstreamCall } from '../contract.js';
import { upstreamRequestHeaders, upstreamRequestLines } from './headers.js';

/**
 * The Anthropic Messages API itself (the official API and the relays that speak it): the client's request goes
 * on as it came — its bytes, its header lines — with the endpoint's credential in place of the client's, and the
 * answer comes back untouched (messages/forward.ts reads it on the side).
 */

/** The client's bytes, re-serialised only when the endpoint maps the model. */
function anthropicBody(endpoint: EndpointRuntime, body: Buffer | null, parsed: ParsedRequest): Buffer | null {
  if (!parsed.json || parsed.model === undefined) return body;
  const mapped = endpoint.upstreamModel(parsed.model);
  if (mapped === parsed.model) return body;
  const obj = parsed.json();
  // JSON.parse refusing what the scanner accepted (a raw control character in a string): send the bytes as they
  // are and let the endpoint give its own 400.
  if (obj === undefined) return body;
  return Buffer.from(JSON.stringify({ ...obj, model: mapped }));
}

function prepare(call: MessagesCall): UpstreamCall {
  const body = anthropicBody(call.endpoint, call.body, call.parsed);
  const auth = { key: call.key?.key, mode: call.endpoint.config.auth_mode, accessKeyHeader: call.accessKeyHeader, oauthClient: call.oauthClient };
  // Streams are read by the proxy (to see message_stop and usage): ask for them uncompressed.
  const overridden = call.parsed.stream ? 'accept-encoding' : undefined;
  let headers: HeaderMap;
  let headerLines: string | undefined;
  const lines = 'lines' in call.client ? clientLines(call.client) : undefined;
  if (lines !== undefined) {
    const upstream = upstreamRequestLines(lines, auth, overridden);
    headers = upstream.own;
    headerLines = upstream.lines;
  } else {
    headers = upstreamRequestHeaders(call.client.headers, auth, body?.length);
  }
  if (overridden !== undefined) headers[overridden] = 'identity';
  return { method: call.method, path: upstreamPath(call.endpoint.target, call.path), headers, headerLines, body };
}

export const anthropic: Protocol = { name: 'anthropic', prepare };
