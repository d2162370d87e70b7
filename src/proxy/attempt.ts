import type { ClientResponse } from '../server/client.js';
import { isUnsent, type AttemptResult, type HeaderMap, type MessagesCall, type ParsedRequest, type Prepared, type Protocol } from '../protocols/contract.js';
import { protocolNamed } from '../protocols/index.js';
import { forwardAttempt } from '../protocols/messages/forward.js';
import { forwardTranslatedAttempt } from '../protocols/translated.js';
import type { AttemptSeat } from '../protocols/seat.js';

export type { ParsedRequest };

/** One attempt: the Messages call for one endpoint and key, and where and how its answer goes. */
export interface AttemptInput {
  call: MessagesCall;
  res: ClientResponse;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** The proxy's own response headers (request id, endpoint, attempt number). */
  ownHeaders: () => HeaderMap;
  /** Shared with a hedge of the same request: whoever claims it first answers (seat.ts). */
  seat?: AttemptSeat | undefined;
}

/**
 * One attempt on one endpoint, driven through its protocol's contract (protocols/contract.ts): the protocol
 * prepares the upstream request; the answer passes through (messages/forward.ts) or is translated on the way
 * (translated.ts). Nothing here knows any protocol by name.
 */
export function runAttempt(a: AttemptInput): Promise<AttemptResult> {
  const { call } = a;
  const protocol = protocolNamed(call.endpoint.config.protocol);
  const attempt = prepareAndSend(a, protocol, call);
  if (protocol.credentialRefused === undefined) return attempt;
  return attempt.then((r) => {
    // A cached credential refused before it expired (revoked, rotated): once more with a fresh one.
    if (r.kind === 'error-response' && r.response.status === 401 && protocol.credentialRefused!(call, r.response)) return prepareAndSend(a, protocol, call);
    return r;
  });
}

function prepareAndSend(a: AttemptInput, protocol: Protocol, call: MessagesCall): Promise<AttemptResult> {
  const prepared = protocol.prepare(call);
  if (!(prepared instanceof Promise)) return send(a, protocol, call, prepared);
  // Credentials being fetched or a signature computed: the client may leave meanwhile (the forwarders watch
  // for that only once they run).
  let gone = false;
  const onClose = () => (gone = !a.res.writableFinished);
  a.res.once('close', onClose);
  return prepared.then(
    (p) => {
      a.res.off('close', onClose);
      return gone ? { kind: 'client-abort' } : send(a, protocol, call, p);
    },
    (e: unknown) => {
      a.res.off('close', onClose);
      return { kind: 'failed', failure: 'connect', message: e instanceof Error ? e.message : String(e) };
    },
  );
}

function send(a: AttemptInput, protocol: Protocol, call: MessagesCall, prepared: Prepared): Promise<AttemptResult> {
  if (isUnsent(prepared)) {
    // Nothing left qcc: a made-up answer, or a failure that is safe to fail over from (no byte was written).
    if ('refused' in prepared) return Promise.resolve({ kind: 'error-response', ttfbMs: 0, response: prepared.refused });
    return Promise.resolve({ kind: 'failed', failure: 'connect', message: prepared.failed });
  }
  const { endpoint } = call;
  if (protocol.translation !== undefined) {
    return forwardTranslatedAttempt({
      dispatcher: call.upstream,
      origin: endpoint.target.origin,
      route: endpoint.route,
      call: prepared,
      translation: protocol.translation(call),
      headersTimeoutMs: a.headersTimeoutMs,
      idleTimeoutMs: a.idleTimeoutMs,
      res: a.res,
      ownHeaders: a.ownHeaders,
      seat: a.seat,
      expectStream: call.parsed.stream,
    });
  }
  // Written out field by field rather than spread: this runs for every request, and an object made by spreading
  // costs several times a literal's (measured: 6 µs a request), as does every read of its fields afterwards.
  const attempt = forwardAttempt({
    dispatcher: call.upstream,
    origin: endpoint.target.origin,
    route: endpoint.route,
    path: prepared.path,
    method: prepared.method,
    headers: prepared.headers,
    headerLines: prepared.headerLines,
    body: prepared.body,
    headersTimeoutMs: a.headersTimeoutMs,
    idleTimeoutMs: a.idleTimeoutMs,
    res: a.res,
    ownHeaders: a.ownHeaders,
    expectStream: call.parsed.stream,
    seat: a.seat,
  });
  const translateError = protocol.translateError;
  if (translateError === undefined) return attempt;
  return attempt.then((r) => (r.kind === 'error-response' ? { ...r, response: translateError(r.response) } : r));
}
