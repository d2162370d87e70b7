import type { IncomingHttpHeaders } from 'node:http';
import type { EndpointRuntime } from '../../endpoints/endpoint.js';
import type { PickedKey } from '../../endpoints/key-pool.js';
import { endpointKeys, poolCredential } from '../../config/schema.js';
import type { Upstream } from '../../upstream/types.js';
import { anthropicErrorJson, type AnthropicErrorType } from '../../errors.js';
import { headerValue } from '../anthropic/headers.js';
import { withoutOAuthBeta } from '../anthropic/oauth.js';
import { cloudBody } from '../cloud-body.js';
import { jsonAnswer, type HeaderMap, type HeldResponse, type MessagesCall, type Prepared, type Protocol, type UpstreamCall } from '../contract.js';
import { TokenSource } from './token.js';

/**
 * Claude on Google Vertex AI. The Messages request goes to
 * `…/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict` (`:rawPredict`
 * when not streaming; `count-tokens:rawPredict` for count_tokens) with the model in the URL (its Vertex id,
 * config/cloud-models.ts) rather than the body, `anthropic_version: "vertex-2023-10-16"`, and `anthropic-beta` as
 * the header Vertex reads. Vertex answers in the Messages format: the answer passes through as it came. Only its
 * own errors (quota, auth: Google's `{"error":{"code","message","status"}}`) are rewritten as Anthropic errors.
 */

const VERTEX_VERSION = 'vertex-2023-10-16';

const sources = new Map<string, TokenSource>();

/** The service-account file a request uses: the one its pool picked, or the endpoint's one (else ADC). */
function credentialsFile(endpoint: EndpointRuntime, key: PickedKey | undefined): string | undefined {
  const picked = key === undefined ? undefined : poolCredential(key.key);
  return picked !== undefined && 'serviceAccountFile' in picked ? picked.serviceAccountFile : endpoint.config.vertex?.credentials_file;
}

function tokenSource(endpoint: EndpointRuntime, upstream: Upstream, file: string | undefined): TokenSource {
  const id = `${endpoint.id}\n${file ?? ''}\n${endpoint.route.label}`;
  let source = sources.get(id);
  if (source === undefined) {
    source = new TokenSource({ upstream, route: endpoint.route, credentialsFile: file });
    sources.set(id, source);
  }
  return source;
}

function notServed(call: MessagesCall, what: string): Prepared {
  return { refused: jsonAnswer(404, anthropicErrorJson('not_found_error', `endpoint ${call.endpoint.id} is Google Vertex AI and cannot serve ${what}`)) };
}

function buildCall(call: MessagesCall): UpstreamCall | Prepared {
  const { endpoint, parsed } = call;
  const vertex = endpoint.config.vertex!;
  if ((!parsed.messages && !parsed.countTokens) || !parsed.json) return notServed(call, `${call.method} ${call.path.split('?')[0]}`);
  const request = parsed.json();
  if (request === undefined) return { refused: jsonAnswer(400, anthropicErrorJson('invalid_request_error', 'request body is not valid JSON (a raw control character in a string?)')) };
  if (parsed.model === undefined) return { refused: jsonAnswer(400, anthropicErrorJson('invalid_request_error', 'model: Field required')) };
  const model = endpoint.upstreamModel(parsed.model);
  const base = `${endpoint.target.prefix}/v1/projects/${vertex.project}/locations/${vertex.region}/publishers/anthropic/models`;
  // count_tokens names the model in its body; Messages calls in the URL (and keep `stream`, which Vertex reads).
  const path = parsed.countTokens ? `${base}/count-tokens:rawPredict` : `${base}/${vertexPathSegment(model)}:${parsed.stream ? 'streamRawPredict' : 'rawPredict'}`;
  const extra: Record<string, unknown> = parsed.countTokens ? { model } : parsed.stream ? { stream: true } : {};
  const body = cloudBody(request, VERTEX_VERSION, extra);
  const headers: HeaderMap = {
    'content-type': 'application/json',
    accept: parsed.stream ? 'text/event-stream' : 'application/json',
    'content-length': String(body.length),
  };
  // Streams are read on the side (usage, message_stop): asked for uncompressed, as from any endpoint.
  if (parsed.stream) headers['accept-encoding'] = 'identity';
  const beta = withoutOAuthBeta(headerValue(call.client.headers, 'anthropic-beta') ?? '');
  if (beta) headers['anthropic-beta'] = beta;
  return { method: 'POST', path, headers, body };
}

/** A model id as a path segment: "@" kept (Vertex's own URLs carry it as it is), anything else unusual escaped. */
function vertexPathSegment(model: string): string {
  return encodeURIComponent(model).replace(/%40/g, '@');
}

/** The token each call was last sent with, and whether it came from the cache (to know what a 401 refused). */
const sentTokens = new WeakMap<MessagesCall, { token: string; cached: boolean }>();

function withToken(call: MessagesCall, upstream: UpstreamCall, token: string, cached: boolean): UpstreamCall {
  sentTokens.set(call, { token, cached });
  return { ...upstream, headers: { ...upstream.headers, authorization: `Bearer ${token}` } };
}

function prepare(call: MessagesCall): Prepared | Promise<Prepared> {
  const built = buildCall(call);
  if ('refused' in built || 'failed' in built) return built;
  const source = tokenSource(call.endpoint, call.upstream, credentialsFile(call.endpoint, call.key));
  const cached = source.cached();
  if (cached !== undefined) return withToken(call, built, cached, true);
  return source.get().then(
    (token) => withToken(call, built, token, false),
    (e: unknown) => ({ failed: `Vertex endpoint ${call.endpoint.id}: ${(e as Error).message}` }),
  );
}

const GOOGLE_TYPES: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

/** Google's error shape as Anthropic's; an Anthropic error (the model's own) passes as it is. */
function translateError(response: HeldResponse): HeldResponse {
  const encoding = response.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return response;
  let parsed: { type?: unknown; error?: { message?: unknown; status?: unknown } } | unknown[];
  try {
    parsed = JSON.parse(response.body.toString('utf8')) as typeof parsed;
  } catch {
    parsed = {};
  }
  // Some Google errors come as a one-element array.
  const error = (Array.isArray(parsed) ? parsed[0] : parsed) as { type?: unknown; error?: { message?: unknown; status?: unknown } } | undefined;
  if (error?.type === 'error') return response;
  const status = response.status;
  const type = GOOGLE_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  const detail = typeof error?.error?.message === 'string' ? error.error.message : response.body.toString('utf8').slice(0, 2000) || `HTTP ${status}`;
  const label = typeof error?.error?.status === 'string' ? `${error.error.status}: ` : '';
  const headers: IncomingHttpHeaders = { 'content-type': 'application/json' };
  if (response.headers['retry-after'] !== undefined) headers['retry-after'] = response.headers['retry-after'];
  return { status, headers, body: Buffer.from(anthropicErrorJson(type, `Vertex AI ${label}${detail}`)) };
}

async function warm(endpoint: EndpointRuntime, upstream: Upstream): Promise<void> {
  const files = endpointKeys(endpoint.config).map(poolCredential).flatMap((c) => ('serviceAccountFile' in c ? [c.serviceAccountFile] : []));
  await Promise.all(files.map((file) => tokenSource(endpoint, upstream, file).get()));
}

/**
 * The token this call was sent with, refused: dropped. Worth one more try when it came from the cache (revoked or
 * replaced since it was issued); one fetched for this very call and refused means the account itself is refused.
 */
function credentialRefused(call: MessagesCall): boolean {
  const sent = sentTokens.get(call);
  if (sent === undefined) return false;
  sentTokens.delete(call);
  tokenSource(call.endpoint, call.upstream, credentialsFile(call.endpoint, call.key)).refused(sent.token);
  return sent.cached;
}

export const vertex: Protocol = { name: 'vertex', prepare, translateError, warm, credentialRefused };
