import { clientLines, type ClientRequest, type ClientResponse } from './client.js';
import type { Upstream } from '../upstream/client.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { PickedKey } from '../endpoints/key-pool.js';
import { anthropicErrorJson } from '../errors.js';
import { forwardOpenAIAttempt } from '../openai/forward.js';
import { toOpenAIRequest } from '../openai/request.js';
import { forwardAttempt, type AttemptResult } from './forward.js';
import { headerValue, upstreamRequestHeaders, upstreamRequestLines, type HeaderMap, type KeyHeader } from './headers.js';
import { upstreamPath } from '../endpoints/upstream-url.js';
import type { AttemptSeat } from './seat.js';

/** What the handler knows about the client request, read once and shared by every attempt. */
export interface ParsedRequest {
  /** The body as an object, parsed on first use (only model mapping and OpenAI translation need it). */
  json: (() => Record<string, unknown> | undefined) | undefined;
  model: string | undefined;
  stream: boolean;
  countTokens: boolean;
  messages: boolean;
  /** The body's `max_tokens` (what a client key's token limit reserves). */
  maxTokens?: number | undefined;
}

export interface AttemptInput {
  dispatcher: Upstream;
  endpoint: EndpointRuntime;
  key: PickedKey | undefined;
  req: ClientRequest;
  res: ClientResponse;
  method: string;
  /** The client's request target, query string included. */
  path: string;
  body: Buffer | null;
  parsed: ParsedRequest;
  accessKeyHeader: KeyHeader | undefined;
  /** The client's credential is a claude.ai subscription token (see oauth.ts). */
  oauthClient: boolean;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  /** The proxy's own response headers (request id, endpoint, attempt number). */
  ownHeaders: () => HeaderMap;
  /** Shared with a hedge of the same request: whoever claims it first answers (seat.ts). */
  seat?: AttemptSeat | undefined;
}

/** The body for an Anthropic endpoint: the client's bytes, re-serialised only when the endpoint maps the model. */
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

/** An answer made up without calling the endpoint, for requests an OpenAI-protocol endpoint cannot serve. */
function notServed(endpoint: EndpointRuntime, what: string): AttemptResult {
  const body = Buffer.from(anthropicErrorJson('not_found_error', `endpoint ${endpoint.id} speaks the OpenAI protocol and cannot serve ${what}`));
  return { kind: 'error-response', ttfbMs: 0, response: { status: 404, headers: { 'content-type': 'application/json' }, body } };
}

function openAIAttempt(a: AttemptInput): Promise<AttemptResult> {
  const { endpoint, parsed } = a;
  if (parsed.countTokens) return Promise.resolve(notServed(endpoint, 'count_tokens')); // the handler answers with an estimate
  if (!parsed.messages || !parsed.json) return Promise.resolve(notServed(endpoint, `${a.method} ${a.path.split('?')[0]}`));
  const request = parsed.json();
  if (request === undefined) {
    const body = Buffer.from(anthropicErrorJson('invalid_request_error', 'request body is not valid JSON (a raw control character in a string?)'));
    return Promise.resolve({ kind: 'error-response', ttfbMs: 0, response: { status: 400, headers: { 'content-type': 'application/json' }, body } });
  }
  const model = endpoint.upstreamModel(parsed.model ?? '');
  const body = Buffer.from(JSON.stringify(toOpenAIRequest(request, { model, mapEffort: endpoint.config.openai.map_effort })));
  // Chat Completions takes a Bearer token; without a key of its own the client's credential is passed as one.
  const clientKey = a.accessKeyHeader === 'x-api-key' || a.accessKeyHeader === 'both' ? undefined : headerValue(a.req.headers, 'x-api-key');
  const clientBearer = a.accessKeyHeader === 'authorization' || a.accessKeyHeader === 'both' ? undefined : headerValue(a.req.headers, 'authorization');
  const authorization = a.key ? `Bearer ${a.key.key}` : (clientBearer ?? (clientKey ? `Bearer ${clientKey}` : undefined));
  const headers: HeaderMap = {
    'content-type': 'application/json',
    accept: parsed.stream ? 'text/event-stream' : 'application/json',
    'content-length': String(body.length),
  };
  if (authorization) headers.authorization = authorization;
  const userAgent = headerValue(a.req.headers, 'user-agent');
  if (userAgent) headers['user-agent'] = userAgent;
  if (parsed.stream) headers['accept-encoding'] = 'identity';
  return forwardOpenAIAttempt({
    dispatcher: a.dispatcher,
    origin: endpoint.target.origin,
    route: endpoint.route,
    path: upstreamPath(endpoint.target, '/v1/chat/completions'),
    headers,
    body,
    stream: parsed.stream,
    requestModel: parsed.model ?? model,
    policy: { reasoning: endpoint.config.openai.reasoning },
    headersTimeoutMs: a.headersTimeoutMs,
    idleTimeoutMs: a.idleTimeoutMs,
    res: a.res,
    ownHeaders: a.ownHeaders,
    seat: a.seat,
  });
}

function anthropicAttempt(a: AttemptInput): Promise<AttemptResult> {
  const body = anthropicBody(a.endpoint, a.body, a.parsed);
  const auth = { key: a.key?.key, mode: a.endpoint.config.auth_mode, accessKeyHeader: a.accessKeyHeader, oauthClient: a.oauthClient };
  // Streams are read by the proxy (to see message_stop and usage): ask for them uncompressed.
  const overridden = a.parsed.stream ? 'accept-encoding' : undefined;
  let headers: HeaderMap;
  let headerLines: string | undefined;
  const lines = clientLines(a.req);
  if (lines !== undefined) {
    const upstream = upstreamRequestLines(lines, auth, overridden);
    headers = upstream.own;
    headerLines = upstream.lines;
  } else {
    headers = upstreamRequestHeaders(a.req.headers, auth, body?.length);
  }
  if (overridden !== undefined) headers[overridden] = 'identity';
  return forwardAttempt({
    dispatcher: a.dispatcher,
    origin: a.endpoint.target.origin,
    route: a.endpoint.route,
    path: upstreamPath(a.endpoint.target, a.path),
    method: a.method,
    headers,
    headerLines,
    body,
    headersTimeoutMs: a.headersTimeoutMs,
    idleTimeoutMs: a.idleTimeoutMs,
    res: a.res,
    ownHeaders: a.ownHeaders,
    expectStream: a.parsed.stream,
    seat: a.seat,
  });
}

/** One attempt on one endpoint, in the endpoint's own protocol. */
export function runAttempt(a: AttemptInput): Promise<AttemptResult> {
  return a.endpoint.config.protocol === 'openai' ? openAIAttempt(a) : anthropicAttempt(a);
}
