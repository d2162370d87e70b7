import type { SignatureV4 } from '@smithy/signature-v4';
import type { IncomingHttpHeaders } from 'node:http';
import type { EndpointRuntime } from '../../endpoints/endpoint.js';
import { anthropicErrorJson } from '../../errors.js';
import { endpointKeys, poolCredential } from '../../config/schema.js';
import { headerValue } from '../anthropic/headers.js';
import { withoutOAuthBeta } from '../anthropic/oauth.js';
import { jsonAnswer, type AnswerTranslation, type HeaderMap, type HeldResponse, type MessagesCall, type Prepared, type Protocol, type UpstreamCall } from '../contract.js';
import { awsCredentials, forgetAwsProfile } from './credentials.js';
import { bedrockHttpError } from './errors.js';
import { BedrockStream } from './stream.js';
import { cloudBody } from '../cloud-body.js';
import { eventStreamsReady } from './event-stream.js';

/**
 * Claude on Amazon Bedrock (InvokeModel / InvokeModelWithResponseStream). The Messages request becomes Bedrock's:
 * the model moves into the URL (its Bedrock id, config/cloud-models.ts), `stream` goes (the URL says it),
 * `anthropic_version: "bedrock-2023-05-31"` is added and the `anthropic-beta` header becomes the body's
 * `anthropic_beta` array. It is signed with SigV4 (@smithy/signature-v4) from the AWS credential chain, or sent
 * with a Bedrock API key as a bearer token when the endpoint has one (`api_key`, or a pool in `api_keys`).
 * Answers: JSON is already a Messages object; streams are AWS event-stream, translated in stream.ts.
 */

export const BEDROCK_VERSION = 'bedrock-2023-05-31';
export const EVENT_STREAM_TYPE = 'application/vnd.amazon.eventstream';

function notServed(call: MessagesCall, what: string): Prepared {
  return { refused: jsonAnswer(404, anthropicErrorJson('not_found_error', `endpoint ${call.endpoint.id} is Amazon Bedrock and cannot serve ${what}`)) };
}

/** The betas the client asked for, from its header and its body, without the subscription-only one. */
function requestedBetas(headers: IncomingHttpHeaders, body: Record<string, unknown>): string[] {
  const fromHeader = withoutOAuthBeta(headerValue(headers, 'anthropic-beta') ?? '') ?? '';
  const fromBody = Array.isArray(body.anthropic_beta) ? body.anthropic_beta.filter((b): b is string => typeof b === 'string') : [];
  const all = [...fromHeader.split(','), ...fromBody].map((b) => b.trim()).filter(Boolean);
  return [...new Set(all)];
}


/**
 * count_tokens as Bedrock's CountTokens: the InvokeModel body it would count, base64 in `input.invokeModel.body`,
 * sent for the foundation model (not an inference profile). An InvokeModel body needs max_tokens; a count does not
 * depend on it.
 */
function countTokensCall(call: MessagesCall, request: Record<string, unknown>, modelId: string, betas: string[]): UpstreamCall {
  const invoke = cloudBody({ max_tokens: 1, ...request }, BEDROCK_VERSION, betas.length > 0 ? { anthropic_beta: betas } : {});
  const body = Buffer.from(JSON.stringify({ input: { invokeModel: { body: invoke.toString('base64') } } }));
  const foundation = modelId.replace(/^(us|us-gov|eu|apac|global)\./, '');
  return {
    method: 'POST',
    path: `${call.endpoint.target.prefix}/model/${encodeURIComponent(foundation)}/count-tokens`,
    headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(body.length) },
    body,
  };
}

function buildCall(call: MessagesCall): UpstreamCall | Prepared {
  const { endpoint, parsed } = call;
  if ((!parsed.messages && !parsed.countTokens) || !parsed.json) return notServed(call, `${call.method} ${call.path.split('?')[0]}`);
  const request = parsed.json();
  if (request === undefined) return { refused: jsonAnswer(400, anthropicErrorJson('invalid_request_error', 'request body is not valid JSON (a raw control character in a string?)')) };
  if (parsed.model === undefined) return { refused: jsonAnswer(400, anthropicErrorJson('invalid_request_error', 'model: Field required')) };
  const modelId = endpoint.upstreamModel(parsed.model);
  const betas = requestedBetas(call.client.headers, request);
  if (parsed.countTokens) return countTokensCall(call, request, modelId, betas);
  const body = cloudBody(request, BEDROCK_VERSION, betas.length > 0 ? { anthropic_beta: betas } : {});
  const action = parsed.stream ? 'invoke-with-response-stream' : 'invoke';
  const headers: HeaderMap = {
    'content-type': 'application/json',
    accept: parsed.stream ? EVENT_STREAM_TYPE : 'application/json',
    'content-length': String(body.length),
  };
  return { method: 'POST', path: `${endpoint.target.prefix}/model/${encodeURIComponent(modelId)}/${action}`, headers, body };
}

/**
 * One signer per region and profile, made once: it takes its credentials from the chain's memoised provider at
 * each signature (so refreshed temporary credentials are picked up) and keeps the derived signing key for the day.
 */
const signers = new Map<string, SignatureV4>();

/** The signing library, loaded on first need (~60 ms that a qcc without Bedrock endpoints never spends). */
let signing: Promise<{ SignatureV4: typeof SignatureV4; Sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'] }> | undefined;

async function signerFor(region: string, profile: string | undefined): Promise<SignatureV4> {
  const id = `${region}\n${profile ?? ''}`;
  let signer = signers.get(id);
  if (signer === undefined) {
    signing ??= Promise.all([import('@smithy/signature-v4'), import('@smithy/hash-node')]).then(([v4, hash]) => ({ SignatureV4: v4.SignatureV4, Sha256: hash.Hash.bind(null, 'sha256') }));
    const lib = await signing;
    signer = signers.get(id) ?? new lib.SignatureV4({ service: 'bedrock', region, credentials: () => awsCredentials(profile), sha256: lib.Sha256 });
    signers.set(id, signer);
  }
  return signer;
}

/** The endpoint's origin as the signature needs it, parsed once per target (a config change makes a new target). */
const hosts = new WeakMap<object, URL>();

function originOf(target: { origin: string }): URL {
  let url = hosts.get(target);
  if (url === undefined) {
    url = new URL(target.origin);
    hosts.set(target, url);
  }
  return url;
}

async function signed(call: MessagesCall, upstream: UpstreamCall, profile: string | undefined): Promise<Prepared> {
  const { endpoint } = call;
  const url = originOf(endpoint.target);
  let request;
  try {
    request = await (await signerFor(endpoint.config.bedrock!.region, profile)).sign({
      method: upstream.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== '' && { port: Number(url.port) }),
      path: upstream.path,
      headers: { ...(upstream.headers as Record<string, string>), host: url.host },
      body: upstream.body,
    });
  } catch (e: unknown) {
    // No credentials to sign with: nothing was sent, another endpoint answers (awsCredentials names the source).
    return { failed: `Bedrock endpoint ${endpoint.id}: ${(e as Error).message}` };
  }
  const { host: _host, ...headers } = request.headers;
  return { ...upstream, headers };
}

function prepare(call: MessagesCall): Prepared | Promise<Prepared> {
  // The answer's translation needs the event-stream codec: loaded before the first call is sent.
  const ready = eventStreamsReady();
  if (ready !== undefined) return ready.then(() => prepare(call));
  const built = buildCall(call);
  if ('refused' in built || 'failed' in built) return built;
  const credential = call.key === undefined ? undefined : poolCredential(call.key.key);
  // A Bedrock API key: a bearer token, no signature.
  if (credential !== undefined && 'apiKey' in credential) return { ...built, headers: { ...built.headers, authorization: `Bearer ${credential.apiKey}` } };
  // A profile of the endpoint's pool, or its one profile (else AWS_PROFILE, else the default chain).
  const profile = credential !== undefined && 'awsProfile' in credential ? credential.awsProfile : call.endpoint.config.bedrock!.profile;
  return signed(call, built, profile);
}

/**
 * CountTokens' answer (`{"inputTokens": N}`) as count_tokens' (`{"input_tokens": N}`). Its errors become a 404, so
 * that qcc counts elsewhere or estimates (count_tokens is advice; a region without CountTokens must not fail it).
 */
const COUNT_TRANSLATION: AnswerTranslation = {
  streams: () => false,
  stream: () => new BedrockStream(),
  message(body: Buffer) {
    const answer = JSON.parse(body.toString('utf8')) as { inputTokens?: unknown };
    if (typeof answer.inputTokens !== 'number') throw new Error('Bedrock CountTokens answered without inputTokens');
    return { input_tokens: answer.inputTokens };
  },
  error(status: number, body: Buffer, headers: IncomingHttpHeaders) {
    const mapped = bedrockHttpError(status, body, headers);
    const message = (JSON.parse(mapped.body.toString('utf8')) as { error: { message: string } }).error.message;
    return jsonAnswer(404, anthropicErrorJson('not_found_error', `count_tokens not available: ${message}`));
  },
};

function translation(call: MessagesCall): AnswerTranslation {
  if (call.parsed.countTokens) return COUNT_TRANSLATION;
  return {
    streams: (contentType) => contentType.includes(EVENT_STREAM_TYPE),
    stream: () => new BedrockStream(),
    message(body: Buffer) {
      const message = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (message.type !== 'message') throw new Error('Bedrock answered with JSON that is not a message');
      return message;
    },
    error: bedrockHttpError,
  };
}

/** Load the AWS credentials a signing endpoint will use: its profile, or each of its pool (API keys need none). */
async function warm(endpoint: EndpointRuntime): Promise<void> {
  const profiles = endpointKeys(endpoint.config).map(poolCredential).flatMap((c) => ('awsProfile' in c ? [c.awsProfile] : []));
  await Promise.all(profiles.map((p) => awsCredentials(p, { fresh: true })));
}

/**
 * A refused signature: the chain is read again for the next call. Retried at once only for temporary credentials
 * that expired (ExpiredTokenException), which a fresh read replaces; a wrong secret stays refused.
 */
function credentialRefused(call: MessagesCall, response: HeldResponse): boolean {
  const credential = call.key === undefined ? undefined : poolCredential(call.key.key);
  if (credential === undefined || 'apiKey' in credential) return false; // an API key: the key pool sets it aside
  const profile = 'awsProfile' in credential ? credential.awsProfile : undefined;
  forgetAwsProfile(profile);
  return response.body.includes('ExpiredTokenException');
}

export const bedrock: Protocol = { name: 'bedrock', prepare, translation, warm, credentialRefused };
