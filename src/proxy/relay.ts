import type { ClientResponse } from '../server/client.js';
import { clientResponseHeaders, type HeaderMap } from '../protocols/anthropic/headers.js';
import type { HeldResponse } from '../protocols/contract.js';
import { MAX_RELAYED_RETRY_AFTER_SECONDS, parseRetryAfter } from './policy.js';

/**
 * Send an upstream's own response that the proxy held back (an error status, or a stream that opened with
 * `event: error`) to the client unchanged: status, headers and body bytes. Only `retry-after` is normalised to
 * whole seconds ≤ 60, because above that Claude Code stops retrying altogether.
 */
export function relayHeld(res: ClientResponse, held: HeldResponse, extra: HeaderMap): void {
  const headers = clientResponseHeaders(held.headers);
  const retryAfter = parseRetryAfter(held.headers['retry-after']);
  if (retryAfter !== undefined) headers['retry-after'] = String(Math.min(retryAfter, MAX_RELAYED_RETRY_AFTER_SECONDS));
  // The body is complete and in hand, so its exact length is known whatever framing the upstream used.
  headers['content-length'] = String(held.body.length);
  Object.assign(headers, extra);
  res.writeHead(held.status, headers);
  res.end(held.body);
}
