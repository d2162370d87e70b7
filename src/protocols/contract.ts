import type { IncomingHttpHeaders } from 'node:http';
import type { ClientRequest } from '../server/client.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { PickedKey } from '../endpoints/key-pool.js';
import type { HeaderMap, Upstream } from '../upstream/types.js';
import type { Usage } from './messages/sse.js';

/**
 * The one contract every upstream protocol implements (shared/docs/architecture.md, rule 12). A protocol says two
 * things: how a Messages request becomes its upstream request (`prepare`: URL, headers, body, signing), and how
 * its answer becomes the Messages answer (`translation`, or nothing when the answer already is one). The proxy
 * drives attempts through this alone (proxy/attempt.ts); the health checker sends its checks through it too, so a
 * check exercises exactly what live traffic does. A new protocol is a folder and one line in protocols/index.ts.
 */

export type { HeaderMap };

/** Which client header(s) carried qcc's own key: apiKeyHelper sends the same key in both. Never forwarded. */
export type KeyHeader = 'x-api-key' | 'authorization' | 'both';

export type FailureKind =
  | 'connect' // refused, unreachable, DNS, TLS, or no credential to sign with: the request was never written
  | 'first-byte-timeout'
  | 'reset' // the connection broke after the request was written, before the response started
  | 'empty-stream' // a 200 stream that closed or broke before its first content
  | 'error-event' // a 200 stream that sent `event: error` before its first content
  | 'upstream'; // anything else the client reports

export type StreamEnd = 'complete' | 'truncated' | 'upstream-error' | 'client-abort';

/** What reached the client, if anything, when an attempt failed before committing. */
export interface HeldResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type AttemptResult =
  | { kind: 'error-response'; ttfbMs: number; response: HeldResponse }
  | { kind: 'failed'; failure: FailureKind; message: string; ttfbMs?: number; held?: HeldResponse }
  | { kind: 'client-abort'; ttfbMs?: number }
  /** Another attempt of the same request answered first (a hedge race): stopped, not a failure. */
  | { kind: 'cancelled'; ttfbMs?: number; usage?: Usage | undefined }
  | {
      kind: 'committed';
      status: number;
      ttfbMs: number;
      /** From the attempt's start to its first content (for a non-streaming answer: to the whole answer). */
      firstContentMs: number;
      end: StreamEnd;
      usage?: Usage | undefined;
      message?: string;
      /** Why usage could not be read, when it could not (e.g. a compressed answer too large to decode). */
      usageNote?: string;
    };

export function failureOf(err: Error): FailureKind {
  // The request never left: whatever the cause (refused, DNS, TLS, connect timeout), another endpoint is safe to
  // try. The upstream client marks every error from before the connection was established this way.
  if ((err as { beforeWrite?: boolean }).beforeWrite === true) return 'connect';
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'QCC_HEADERS_TIMEOUT':
      return 'first-byte-timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'QCC_UPSTREAM_CLOSED':
      return 'reset';
    default:
      return 'upstream';
  }
}

/** What the handler knows about the client request, read once and shared by every attempt. */
export interface ParsedRequest {
  /** The body as an object, parsed on first use (only model mapping and translation need it). */
  json: (() => Record<string, unknown> | undefined) | undefined;
  model: string | undefined;
  stream: boolean;
  countTokens: boolean;
  messages: boolean;
  /** The body's `max_tokens` (what a client key's token limit reserves). */
  maxTokens?: number | undefined;
}

/** The client's side as a protocol may read it: a live request, or the health checker's few headers. */
export type ClientHeaders = ClientRequest | { readonly headers: IncomingHttpHeaders };

/** One Messages API request, to be sent to one endpoint with one of its keys. */
export interface MessagesCall {
  /** The upstream client: for what a protocol must fetch first (an access token), by the endpoint's route. */
  upstream: Upstream;
  endpoint: EndpointRuntime;
  key: PickedKey | undefined;
  client: ClientHeaders;
  method: string;
  /** The client's request target, query string included. */
  path: string;
  body: Buffer | null;
  parsed: ParsedRequest;
  accessKeyHeader: KeyHeader | undefined;
  /** The client's credential is a claude.ai subscription token (see anthropic/oauth.ts). */
  oauthClient: boolean;
}

/** The upstream request a protocol made of a Messages request; sent to the endpoint's origin by its route. */
export interface UpstreamCall {
  method: string;
  path: string;
  headers: HeaderMap;
  /** Client header lines passed on as text, written before `headers` (the Anthropic pass-through only). */
  headerLines?: string | undefined;
  body: Buffer | null;
}

/**
 * Not sent: an answer made up in the protocol's place (a request it cannot serve, 404 so that another endpoint is
 * tried), or a failure before any byte left (no credential, token endpoint down), which fails over like a
 * refused connection and names its cause.
 */
export type Unsent = { refused: HeldResponse } | { failed: string };

export type Prepared = UpstreamCall | Unsent;

/** A translated success stream, fed the upstream's bytes as they come. */
export interface StreamTranslation {
  /** Upstream bytes in; complete Messages SSE events out ('' while none is complete). */
  push(chunk: Buffer): string;
  /** The upstream body ended: whatever remains (the closing events of a complete stream). */
  finish(): string;
  readonly usage: Usage;
  /** The upstream reported an error in-band: the error event has been emitted and the stream is over. */
  readonly failed: boolean;
  /** The upstream's stream reached its proper end. */
  readonly complete: boolean;
}

/** How a protocol whose answers are not in the Messages format turns them into it. */
export interface AnswerTranslation {
  /** Does a success answer with this content type stream? */
  streams(contentType: string): boolean;
  stream(): StreamTranslation;
  /** A whole success answer as a Messages object; throws when it is not one. */
  message(body: Buffer): Record<string, unknown>;
  /** An error answer as an Anthropic error, its status kept (or made Anthropic's) and retry-after carried. */
  error(status: number, body: Buffer, headers: IncomingHttpHeaders): HeldResponse;
}

export interface Protocol {
  readonly name: string;
  /** Build the upstream request; a promise only where credentials must be fetched or signing is asynchronous. */
  prepare(call: MessagesCall): Prepared | Promise<Prepared>;
  /** For protocols whose answer is not the Messages API's own; absent: the answer passes through as it came. */
  translation?(call: MessagesCall): AnswerTranslation;
  /** For pass-through protocols whose errors come in another shape (Vertex's Google API errors). */
  translateError?(response: HeldResponse): HeldResponse;
  /**
   * The endpoint refused the credential a call was prepared with (401, as the Messages answer has it). A protocol
   * that caches one (an access token, temporary AWS credentials) drops it, and says whether a fresh one may fix
   * this: then the attempt is prepared and sent once more, at once (nothing reached the client), as Google's and
   * AWS's own clients do; else the refusal stands and the credential is set aside like a refused key.
   */
  credentialRefused?(call: MessagesCall, response: HeldResponse): boolean;
  /**
   * Get ready to serve an endpoint (its config applied): fetch the credentials requests will need, so that the
   * first request does not wait for them. Rejects with a message for the log when they cannot be had.
   */
  warm?(endpoint: EndpointRuntime, upstream: Upstream): Promise<void>;
}

export function isUnsent(p: Prepared): p is Unsent {
  return 'refused' in p || 'failed' in p;
}

/** A made-up JSON answer (no upstream involved). */
export function jsonAnswer(status: number, body: string): HeldResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
}
