import type { IncomingMessage } from 'node:http';
import type { RequestLines } from './request-lines.js';
import type { BufferedRequest } from './exchange-types.js';

export type { BufferedRequest, ClientResponse, ForwardedLines } from './exchange-types.js';

/**
 * The client's side of an exchange as the proxy handler uses it. Two servers provide it: Node's HTTP server
 * (IncomingMessage / ServerResponse fit these shapes as they are) and qcc's front server, which answers the API
 * traffic itself (src/server/). Keeping the handler to this much is what lets the two stand in for each other.
 */
export type ClientRequest = IncomingMessage | BufferedRequest;

/** The request's header lines, when qcc's front server read it (Node's server gives only the object). */
export function clientLines(req: ClientRequest): RequestLines | undefined {
  return 'lines' in req ? req.lines : undefined;
}

/** One of the client's headers (name in lower case), without making the headers object when there are lines. */
export function clientHeader(req: ClientRequest, name: string): string | undefined {
  const lines = clientLines(req);
  if (lines !== undefined) return lines.get(name);
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
