import { createPublicKey, randomBytes, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { encodeMessage } from '../protocols/bedrock/event-stream.js';
import type { SimBehavior } from './behavior.js';
import { messageOf, sendStream, simAnswer, type Framer, type MessageRequest, type SimAnswer } from './simulator.js';

/**
 * The simulator's two clouds, strict where the real services are strict, so that qcc is tested against what
 * they check:
 *
 * - Amazon Bedrock (`POST /model/{id}/invoke[-with-response-stream]`): every request's SigV4 signature is
 *   recomputed with the same algorithm (@smithy/signature-v4) from the secret the simulator was given; a wrong
 *   secret gets 403 InvalidSignatureException, an unknown key 403 UnrecognizedClientException, as AWS answers. A
 *   Bedrock API key (bearer) is accepted when configured. Streams are real event-stream frames (CRCs included)
 *   whose chunks carry base64 JSON events.
 * - Google Vertex AI (`…/publishers/anthropic/models/{model}:streamRawPredict|rawPredict`, `count-tokens:rawPredict`),
 *   behind a token endpoint (`POST /token`) that verifies the service account's RS256-signed JWT against its public
 *   key and issues bearer tokens; the model endpoints accept only tokens it issued and has not expired.
 */

export interface BedrockSimOptions {
  accessKeyId: string;
  secretAccessKey: string;
  /** When set, requests must carry it as x-amz-security-token (temporary credentials). */
  sessionToken?: string;
  /** A Bedrock API key accepted as `Authorization: Bearer`. */
  apiKey?: string;
  /** Further accounts accepted besides the first (a pool of profiles), each with its own secret. */
  more?: { accessKeyId: string; secretAccessKey: string }[];
}

export interface VertexSimOptions {
  project: string;
  clientEmail: string;
  /** The service account's public key (PEM), to check the JWT's signature with. */
  publicKey: string;
  /** Lifetime of issued tokens, seconds (default 3600). */
  tokenTtlS?: number;
  /** Further service accounts accepted besides the first (a pool of accounts). */
  more?: { clientEmail: string; publicKey: string }[];
  /** Users' logins (`gcloud auth application-default login`), granted tokens for their refresh token. */
  users?: { clientId: string; clientSecret: string; refreshToken: string; email: string }[];
}

export interface CloudState {
  /** Token requests received, and how many were granted. */
  tokenRequests: number;
  tokensIssued: number;
  /** Answer the token endpoint with this status instead (a token endpoint outage). */
  tokenFailStatus?: number | undefined;
  /** Requests refused for their credentials (bad signature, unknown or expired token). */
  authFailures: number;
  /** Model calls by the account that made them (AWS access key id, or service account email). */
  callsByAccount: Record<string, number>;
  /** Accounts answered with 429 (ThrottlingException, RESOURCE_EXHAUSTED) whatever they ask. */
  throttled: string[];
  /** Vertex tokens issued before this time (epoch ms) are refused, as after a revocation. */
  revokedBefore?: number | undefined;
}

const Sha256 = Hash.bind(null, 'sha256');
const BEDROCK_PATH = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|count-tokens)$/;
const VERTEX_PATH = /^\/v1\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/anthropic\/models\/([^/:]+):(rawPredict|streamRawPredict)$/;
const SIGNATURE_MAX_SKEW_MS = 5 * 60_000;

export function isBedrockPath(path: string): boolean {
  return BEDROCK_PATH.test(path);
}

export function isVertexPath(path: string): boolean {
  return VERTEX_PATH.test(path);
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

// ---------------------------------------------------------------------------------------------- Bedrock

function awsError(res: ServerResponse, status: number, name: string, message: string): void {
  sendJson(res, status, { message }, { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': randomBytes(8).toString('hex') });
}

const AWS_ERRORS: Record<number, string> = {
  400: 'ValidationException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  424: 'ModelErrorException',
  429: 'ThrottlingException',
  500: 'InternalServerException',
  503: 'ServiceUnavailableException',
};

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** "20261206T050000Z" → epoch ms. */
function amzDate(value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) : Number.NaN;
}

const AUTHORIZATION = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** The signature check AWS does, as an error to answer with, or undefined when the request is genuine. */
async function sigV4Problem(req: IncomingMessage, raw: Buffer, options: BedrockSimOptions): Promise<{ name: string; message: string } | undefined> {
  const authorization = req.headers.authorization ?? '';
  const m = AUTHORIZATION.exec(authorization);
  if (!m) return { name: 'IncompleteSignatureException', message: 'Authorization header requires Credential, SignedHeaders and Signature' };
  const [, accessKeyId, , region, service, signedHeaders] = m;
  const creds = [options, ...(options.more ?? [])].find((c) => c.accessKeyId === accessKeyId);
  if (creds === undefined) return { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  const token = req.headers['x-amz-security-token'];
  if (options.sessionToken !== undefined && token !== options.sessionToken) return { name: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  const date = amzDate(String(req.headers['x-amz-date'] ?? ''));
  if (!(Math.abs(Date.now() - date) <= SIGNATURE_MAX_SKEW_MS)) return { name: 'InvalidSignatureException', message: 'Signature expired or x-amz-date missing' };
  const names = signedHeaders!.split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return { name: 'InvalidSignatureException', message: 'host and x-amz-date must be signed' };
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value === undefined) return { name: 'InvalidSignatureException', message: `signed header ${name} is missing` };
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const [hostname, port] = (req.headers.host ?? '').split(':');
  const signer = new SignatureV4({
    service: service!,
    region: region!,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, ...(typeof token === 'string' && { sessionToken: token }) },
    sha256: Sha256,
  });
  const expected = await signer.sign(
    { method: req.method ?? 'POST', protocol: 'http:', hostname: hostname!, ...(port !== undefined && { port: Number(port) }), path: req.url ?? '/', headers, body: raw },
    { signingDate: new Date(date) },
  );
  if (!safeEqual(String(expected.headers.authorization), authorization)) {
    return {
      name: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    };
  }
  return undefined;
}

/** Anthropic stream events as Bedrock frames them: `chunk` events whose payload is `{"bytes": base64(JSON)}`. */
export const EVENT_STREAM_FRAMER: Framer = {
  contentType: 'application/vnd.amazon.eventstream',
  event(name, data) {
    if (name === 'error') {
      const err = (data as { error?: { type?: string; message?: string } }).error;
      const exception = err?.type === 'overloaded_error' ? 'serviceUnavailableException' : 'internalServerException';
      return encodeMessage({ ':message-type': 'exception', ':exception-type': exception, ':content-type': 'application/json' }, Buffer.from(JSON.stringify({ message: err?.message ?? 'error' })));
    }
    // As Bedrock does: its invocation metrics ride on message_stop.
    const event = name === 'message_stop' ? { ...(data as object), 'amazon-bedrock-invocationMetrics': { inputTokenCount: 12, outputTokenCount: 5, invocationLatency: 120, firstByteLatency: 40 } } : data;
    const bytes = Buffer.from(JSON.stringify(event)).toString('base64');
    return encodeMessage({ ':message-type': 'event', ':event-type': 'chunk', ':content-type': 'application/json' }, Buffer.from(JSON.stringify({ bytes, p: 'abcdefghij' })));
  },
};

export async function handleBedrock(req: IncomingMessage, res: ServerResponse, raw: Buffer, behavior: SimBehavior, name: string, creds: BedrockSimOptions, state: CloudState): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const m = BEDROCK_PATH.exec(path)!;
  const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
  if (bearer !== undefined) {
    if (creds.apiKey === undefined || !safeEqual(bearer, creds.apiKey)) {
      state.authFailures++;
      return awsError(res, 403, 'AccessDeniedException', 'Authentication failed: Please make sure your API Key is valid.');
    }
  } else {
    const problem = await sigV4Problem(req, raw, creds);
    if (problem) {
      state.authFailures++;
      return awsError(res, 403, problem.name, problem.message);
    }
  }
  const account = bearer !== undefined ? 'api-key' : AUTHORIZATION.exec(req.headers.authorization ?? '')![1]!;
  if (m[2] !== 'count-tokens') state.callsByAccount[account] = (state.callsByAccount[account] ?? 0) + 1;
  if (state.throttled.includes(account)) return awsError(res, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.');
  if (behavior.status !== undefined && behavior.status >= 400) {
    const exception = AWS_ERRORS[behavior.status] ?? 'InternalServerException';
    return awsError(res, behavior.status, exception, behavior.errorMessage ?? `simulated ${exception}`);
  }
  let body: MessageRequest & { anthropic_version?: unknown; anthropic_beta?: unknown };
  let invokeBytes = raw;
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
    if (m[2] === 'count-tokens') {
      // CountTokens wraps the InvokeModel body it counts: {"input":{"invokeModel":{"body":"<base64>"}}}.
      const wrapped = (body as { input?: { invokeModel?: { body?: unknown } } }).input?.invokeModel?.body;
      if (typeof wrapped !== 'string') return awsError(res, 400, 'ValidationException', 'input.invokeModel.body is required');
      invokeBytes = Buffer.from(wrapped, 'base64');
      body = JSON.parse(invokeBytes.toString('utf8')) as typeof body;
    }
  } catch {
    return awsError(res, 400, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
  }
  if (body.anthropic_version !== 'bedrock-2023-05-31') return awsError(res, 400, 'ValidationException', 'Malformed input request: #: required key [anthropic_version] not found');
  if ('model' in body || 'stream' in body) return awsError(res, 400, 'ValidationException', `Malformed input request: #: extraneous key [${'model' in body ? 'model' : 'stream'}] is not permitted`);
  if (body.anthropic_beta !== undefined && !Array.isArray(body.anthropic_beta)) return awsError(res, 400, 'ValidationException', 'anthropic_beta must be an array');
  const modelId = decodeURIComponent(m[1]!);
  if (!/^((us|eu|apac|global|us-gov)\.)?anthropic\.claude-[a-z0-9-]+(-v\d+(:\d+)?)?$/.test(modelId) || behavior.failModels?.includes(modelId)) {
    return awsError(res, 400, 'ValidationException', 'The provided model identifier is invalid.');
  }
  if (m[2] === 'count-tokens') {
    if (/^(us|eu|apac|global|us-gov)\./.test(modelId)) return awsError(res, 400, 'ValidationException', 'CountTokens takes a foundation model id');
    return sendJson(res, 200, { inputTokens: Math.max(1, Math.ceil(invokeBytes.length / 4)) });
  }
  const answer: SimAnswer = simAnswer(name, modelId, body, raw.length, behavior);
  if (m[2] === 'invoke-with-response-stream') return sendStream(res, answer, behavior, EVENT_STREAM_FRAMER);
  sendJson(res, 200, messageOf(answer));
}

// ---------------------------------------------------------------------------------------------- Vertex

function googleError(res: ServerResponse, status: number, message: string): void {
  const statuses: Record<number, string> = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 503: 'UNAVAILABLE' };
  sendJson(res, status, { error: { code: status, message, status: statuses[status] ?? 'INTERNAL' } });
}

function base64urlJson(part: string | undefined): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export class VertexTokens {
  /** Token → its expiry and the account it was issued to. */
  private readonly issued = new Map<string, { issued: number; expires: number; account: string }>();
  private readonly keys: Map<string, KeyObject>;

  constructor(private readonly options: VertexSimOptions) {
    this.keys = new Map([options, ...(options.more ?? [])].map((a) => [a.clientEmail, createPublicKey(a.publicKey)]));
  }

  /** RFC 7523 JWT bearer grant: checks the assertion as Google's token endpoint does. */
  grant(req: IncomingMessage, res: ServerResponse, raw: Buffer, tokenUrl: string, state: CloudState): void {
    state.tokenRequests++;
    if (state.tokenFailStatus !== undefined) return sendJson(res, state.tokenFailStatus, { error: 'internal_failure', error_description: 'simulated token endpoint failure' });
    const form = new URLSearchParams(raw.toString('utf8'));
    if (form.get('grant_type') === 'refresh_token') {
      const user = this.options.users?.find((u) => u.clientId === form.get('client_id') && u.clientSecret === form.get('client_secret') && u.refreshToken === form.get('refresh_token'));
      if (user === undefined) {
        state.authFailures++;
        return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' });
      }
      return this.issue(res, user.email, state);
    }
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
    const [head, claims, signature] = (form.get('assertion') ?? '').split('.');
    const header = base64urlJson(head);
    const payload = base64urlJson(claims);
    const now = Math.floor(Date.now() / 1000);
    const key = typeof payload?.iss === 'string' ? this.keys.get(payload.iss) : undefined;
    const valid =
      header?.alg === 'RS256' &&
      payload !== undefined &&
      key !== undefined &&
      payload.aud === tokenUrl &&
      typeof payload.scope === 'string' &&
      payload.scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform') &&
      typeof payload.iat === 'number' &&
      typeof payload.exp === 'number' &&
      Math.abs(payload.iat - now) < 300 &&
      payload.exp > now &&
      payload.exp - payload.iat <= 3600 &&
      verify('RSA-SHA256', Buffer.from(`${head}.${claims}`), key, Buffer.from(signature ?? '', 'base64url'));
    if (!valid) {
      state.authFailures++;
      return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    this.issue(res, String(payload!.iss), state);
  }

  private issue(res: ServerResponse, account: string, state: CloudState): void {
    const ttl = this.options.tokenTtlS ?? 3600;
    const token = `ya29.sim-${randomBytes(24).toString('base64url')}`;
    this.issued.set(token, { issued: Date.now(), expires: Date.now() + ttl * 1000, account });
    state.tokensIssued++;
    sendJson(res, 200, { access_token: token, expires_in: ttl, token_type: 'Bearer' });
  }

  /** The account a valid token was issued to; undefined for a token unknown or expired. */
  account(authorization: string | undefined, state: CloudState): string | undefined {
    if (!authorization?.startsWith('Bearer ')) return undefined;
    const token = this.issued.get(authorization.slice(7));
    if (token === undefined || token.expires <= Date.now() || token.issued < (state.revokedBefore ?? 0)) return undefined;
    return token.account;
  }
}

export async function handleVertex(req: IncomingMessage, res: ServerResponse, raw: Buffer, behavior: SimBehavior, name: string, options: VertexSimOptions, tokens: VertexTokens, state: CloudState): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const m = VERTEX_PATH.exec(path)!;
  const account = tokens.account(req.headers.authorization, state);
  if (account === undefined) {
    state.authFailures++;
    return googleError(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
  }
  if (m[1] !== options.project) return googleError(res, 403, `Permission denied on resource project ${m[1]}.`);
  if (m[3] !== 'count-tokens') state.callsByAccount[account] = (state.callsByAccount[account] ?? 0) + 1;
  if (state.throttled.includes(account)) return googleError(res, 429, 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude.');
  if (behavior.status !== undefined && behavior.status >= 400) {
    if (behavior.status === 429) return googleError(res, 429, behavior.errorMessage ?? 'Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: anthropic-claude.');
    const type = behavior.status === 529 || behavior.status === 503 ? 'overloaded_error' : behavior.status >= 500 ? 'api_error' : 'invalid_request_error';
    return sendJson(res, behavior.status, { type: 'error', error: { type, message: behavior.errorMessage ?? `simulated ${behavior.status}` } });
  }
  let body: MessageRequest & { anthropic_version?: unknown };
  try {
    body = JSON.parse(raw.toString('utf8')) as typeof body;
  } catch {
    return googleError(res, 400, 'Invalid JSON payload received.');
  }
  const invalid = (message: string) => sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message } });
  if (body.anthropic_version !== 'vertex-2023-10-16') return invalid('anthropic_version: must be "vertex-2023-10-16"');
  const model = m[3]!;
  if (model === 'count-tokens') {
    if (typeof body.model !== 'string') return invalid('model: Field required');
    return sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) });
  }
  if ('model' in body) return invalid('model: Extra inputs are not permitted');
  if (!/^claude-[a-z0-9-]+(@\d{8})?$/.test(model) || behavior.failModels?.includes(model)) return googleError(res, 404, `Publisher Model \`projects/${m[1]}/locations/${m[2]}/publishers/anthropic/models/${model}\` not found.`);
  const answer = simAnswer(name, model, body, raw.length, behavior);
  const streaming = m[4] === 'streamRawPredict';
  if (streaming !== (body.stream === true)) return invalid(`stream must be ${streaming} for :${m[4]}`);
  if (streaming) return sendStream(res, answer, behavior);
  sendJson(res, 200, messageOf(answer));
}
