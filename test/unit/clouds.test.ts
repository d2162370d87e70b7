import { beforeAll, describe, expect, it } from 'vitest';
import { createPublicKey, createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { EventStreamCodec, getChunkedStream } from '@smithy/core/event-streams';
import { prng } from '../helpers/prng.js';
import { bedrockModelId, inferenceProfile, upstreamModelName, vertexModelId } from '../../src/config/cloud-models.js';
import { endpointBaseUrl, endpointSchema } from '../../src/config/schema.js';
import { EventStreamError, EventStreamSplitter, MAX_MESSAGE_BYTES, encodeMessage, eventStreamsReady } from '../../src/protocols/bedrock/event-stream.js';
import { BedrockStream } from '../../src/protocols/bedrock/stream.js';
import { bedrockHttpError, mapException } from '../../src/protocols/bedrock/errors.js';
import { vertex } from '../../src/protocols/vertex/index.js';
import { jwtAssertion, SCOPE } from '../../src/protocols/vertex/token.js';
import { parseSse } from '../helpers/stream-validator.js';

beforeAll(() => eventStreamsReady());

describe('cloud model ids', () => {
  it('dated Anthropic ids follow one rule on each cloud; aliases resolve to their dated model; the rest are not guessed', () => {
    expect(bedrockModelId('claude-sonnet-4-5-20250929', 'us-east-1', 'auto')).toBe('us.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(bedrockModelId('claude-haiku-4-5', 'eu-central-1', 'auto')).toBe('eu.anthropic.claude-haiku-4-5-20251001-v1:0');
    expect(bedrockModelId('claude-opus-4-1-20250805', 'ap-northeast-1', 'auto')).toBe('apac.anthropic.claude-opus-4-1-20250805-v1:0');
    expect(bedrockModelId('claude-sonnet-4-5-20250929', 'us-east-1', 'global')).toBe('global.anthropic.claude-sonnet-4-5-20250929-v1:0');
    expect(bedrockModelId('claude-sonnet-4-5-20250929', 'us-east-1', 'none')).toBe('anthropic.claude-sonnet-4-5-20250929-v1:0');
    // Older models served on demand without a profile keep the plain id.
    expect(bedrockModelId('claude-3-5-haiku-20241022', 'us-east-1', 'auto')).toBe('anthropic.claude-3-5-haiku-20241022-v1:0');
    expect(bedrockModelId('us.anthropic.claude-opus-4-5-20251101-v1:0', 'us-east-1', 'auto')).toBe('us.anthropic.claude-opus-4-5-20251101-v1:0');
    expect(bedrockModelId('claude-opus-4-8', 'us-east-1', 'auto')).toBeUndefined();
    expect(vertexModelId('claude-sonnet-4-5-20250929')).toBe('claude-sonnet-4-5@20250929');
    expect(vertexModelId('claude-opus-4-0')).toBe('claude-opus-4@20250514');
    expect(vertexModelId('claude-haiku-4-5@20251001')).toBe('claude-haiku-4-5@20251001');
    expect(vertexModelId('claude-sonnet-5')).toBeUndefined();
    expect(inferenceProfile('us-gov-west-1', 'auto')).toBe('us-gov');
    expect(inferenceProfile('ca-central-1', 'auto')).toBe('us');
    expect(inferenceProfile('sa-east-1', 'auto')).toBe('global');
  });

  it('model_map wins; an Anthropic endpoint is sent the client\'s name as it is', () => {
    const bedrock = endpointSchema.parse({ id: 'b', protocol: 'bedrock', bedrock: { region: 'us-east-1' }, model_map: { 'claude-opus-4-8': 'global.anthropic.claude-opus-4-8-v1' } });
    expect(upstreamModelName(bedrock, 'claude-opus-4-8')).toBe('global.anthropic.claude-opus-4-8-v1');
    expect(upstreamModelName(bedrock, 'claude-sonnet-5')).toBeUndefined();
    const plain = endpointSchema.parse({ id: 'a', base_url: 'https://api.anthropic.com' });
    expect(upstreamModelName(plain, 'claude-sonnet-5')).toBe('claude-sonnet-5');
  });
});

describe('cloud endpoint config', () => {
  it('the regional host when there is no base_url; the block its protocol needs, and only that one', () => {
    expect(endpointBaseUrl(endpointSchema.parse({ id: 'b', protocol: 'bedrock', bedrock: { region: 'eu-west-3' } }))).toBe('https://bedrock-runtime.eu-west-3.amazonaws.com');
    expect(endpointBaseUrl(endpointSchema.parse({ id: 'v', protocol: 'vertex', vertex: { project: 'my-project-1', region: 'us-east5' } }))).toBe('https://us-east5-aiplatform.googleapis.com');
    expect(endpointBaseUrl(endpointSchema.parse({ id: 'v', protocol: 'vertex', vertex: { project: 'my-project-1', region: 'global' } }))).toBe('https://aiplatform.googleapis.com');
    const problems = (value: unknown) => {
      const r = endpointSchema.safeParse(value);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ id: 'b', protocol: 'bedrock' })).toEqual(['bedrock: a Bedrock endpoint needs "bedrock": { "region": "us-east-1" } (and optionally "profile")']);
    expect(problems({ id: 'b', protocol: 'bedrock', bedrock: { region: 'Virginia' } })[0]).toContain('must be an AWS region');
    expect(problems({ id: 'v', protocol: 'vertex', vertex: { project: 'p-123456', region: 'us-east5' }, api_key: 'k' })[0]).toContain('Vertex authenticates with a service account');
    expect(problems({ id: 'a', bedrock: { region: 'us-east-1' }, base_url: 'https://x.example' })).toEqual(['bedrock: only for "protocol": "bedrock"']);
    expect(problems({ id: 'a' })).toEqual(['base_url: required: the endpoint\'s address, such as "https://api.anthropic.com"']);
  });
});

const codec = new EventStreamCodec((b) => Buffer.from(b).toString('utf8'), (s) => Buffer.from(s, 'utf8'));

function frames(rand: () => number, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => {
    const body = Buffer.alloc(Math.floor(rand() * 3000), i % 251);
    return encodeMessage({ ':message-type': 'event', ':event-type': 'chunk', seq: String(i) }, body);
  });
}

async function* asIterable(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of chunks) yield c;
}

describe('event-stream splitting (hand-written cut, the library decodes): the same messages as the library\'s own splitter', () => {
  it('any cut of a stream of messages, 200 seeded cases', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const rand = prng(seed);
      const all = Buffer.concat(frames(rand, 1 + Math.floor(rand() * 6)));
      const pieces: Buffer[] = [];
      for (let at = 0; at < all.length; ) {
        const size = 1 + Math.floor(rand() * (rand() < 0.3 ? 8 : 2000));
        pieces.push(all.subarray(at, at + size));
        at += size;
      }
      const splitter = new EventStreamSplitter();
      const ours = pieces.flatMap((p) => splitter.push(p));
      const theirs = [];
      for await (const message of getChunkedStream(asIterable(pieces))) theirs.push(codec.decode(message));
      expect(ours.map((m) => [m.headers, Buffer.from(m.body).toString('hex')]), `seed ${seed}`).toEqual(theirs.map((m) => [m.headers, Buffer.from(m.body).toString('hex')]));
      expect(splitter.leftover).toBe(0);
    }
  });

  it('a corrupted CRC or an absurd length is an EventStreamError, never a crash or an allocation', () => {
    const [frame] = frames(prng(7), 1);
    const bad = Buffer.from(frame!);
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
    expect(() => new EventStreamSplitter().push(bad)).toThrow(EventStreamError);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(MAX_MESSAGE_BYTES + 1, 0);
    expect(() => new EventStreamSplitter().push(huge)).toThrow(/allowed 16\.\./);
    const tiny = Buffer.alloc(8);
    tiny.writeUInt32BE(4, 0);
    expect(() => new EventStreamSplitter().push(tiny)).toThrow(EventStreamError);
  });
});

const chunk = (event: Record<string, unknown>) =>
  Buffer.from(encodeMessage({ ':message-type': 'event', ':event-type': 'chunk' }, Buffer.from(JSON.stringify({ bytes: Buffer.from(JSON.stringify(event)).toString('base64'), p: 'abc' }))));

describe('Bedrock stream → Anthropic SSE', () => {
  it('each chunk becomes its own event with Bedrock\'s JSON as it came; usage from message_start and message_delta', () => {
    const s = new BedrockStream();
    const start = { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], usage: { input_tokens: 12, output_tokens: 1, cache_read_input_tokens: 4 } } };
    const out =
      s.push(Buffer.concat([chunk(start), chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })])) +
      s.push(chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hé\n"x"' } })) +
      s.push(Buffer.concat([chunk({ type: 'content_block_stop', index: 0 }), chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } })])) +
      s.push(chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 12 } })) +
      s.finish();
    const events = parseSse(out);
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    expect(out).toContain(`data: ${JSON.stringify(start)}\n\n`);
    expect((events[2]!.data.delta as { text: string }).text).toBe('hé\n"x"');
    expect(s.usage).toEqual({ input_tokens: 12, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 4 });
    expect(s.complete).toBe(true);
    expect(s.failed).toBe(false);
  });

  it('hostile chunks: a raw newline, an event without a type, a payload without bytes, another layout of the payload', () => {
    const raw = (json: string) => Buffer.from(encodeMessage({ ':message-type': 'event', ':event-type': 'chunk' }, Buffer.from(JSON.stringify({ bytes: Buffer.from(json).toString('base64') }))));
    const newline = new BedrockStream();
    expect(parseSse(newline.push(raw('{"type":"content_block_delta","delta":{"text":"a\nb"}}')))[0]!.data).toMatchObject({ error: { type: 'api_error', message: 'Bedrock stream: an event that is not JSON' } });
    const spaced = new BedrockStream();
    expect(spaced.push(raw('{"type":"ping",\n"x":1}'))).toBe('event: ping\ndata: {"type":"ping","x":1}\n\n');
    const untyped = new BedrockStream();
    expect(untyped.push(raw('{"kind":"delta"}'))).toContain('an event without a type');
    const noBytes = new BedrockStream();
    expect(noBytes.push(Buffer.from(encodeMessage({ ':message-type': 'event', ':event-type': 'chunk' }, Buffer.from('{"p":"x"}'))))).toContain('a chunk that is not JSON with bytes');
    const reordered = new BedrockStream();
    const payload = JSON.stringify({ p: 'pad', bytes: Buffer.from('{"type":"message_stop"}').toString('base64') });
    expect(reordered.push(Buffer.from(encodeMessage({ ':message-type': 'event', ':event-type': 'chunk' }, Buffer.from(payload))))).toBe('event: message_stop\ndata: {"type":"message_stop"}\n\n');
    expect(reordered.complete).toBe(true);
  });

  it('an exception message is an Anthropic error event of the mapped type; so is a frame that does not decode', () => {
    const s = new BedrockStream();
    const exception = Buffer.from(encodeMessage({ ':message-type': 'exception', ':exception-type': 'throttlingException' }, Buffer.from('{"message":"slow down"}')));
    const events = parseSse(s.push(exception));
    expect(events).toEqual([{ event: 'error', data: { type: 'error', error: { type: 'rate_limit_error', message: 'Bedrock throttlingException: slow down' } } }]);
    expect(s.failed).toBe(true);
    expect(s.push(chunk({ type: 'ping' }))).toBe('');

    const broken = new BedrockStream();
    const bad = chunk({ type: 'ping' });
    bad[10] = bad[10]! ^ 1;
    expect(parseSse(broken.push(bad))[0]!.data).toMatchObject({ error: { type: 'api_error' } });
    const cut = new BedrockStream();
    cut.push(chunk({ type: 'ping' }).subarray(0, 20));
    expect(cut.finish()).toContain('Bedrock stream ended inside a message (20 bytes)');
  });

  it('HTTP exceptions map to the status the failover rules act on, the exception named in the message', () => {
    expect(mapException('ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/', 400)).toEqual({ status: 429, type: 'rate_limit_error' });
    expect(mapException('com.amazon.coral.service#ModelNotReadyException', 429)).toEqual({ status: 529, type: 'overloaded_error' });
    expect(mapException('ServiceUnavailableException', 503)).toEqual({ status: 529, type: 'overloaded_error' });
    expect(mapException('AccessDeniedException', 403)).toEqual({ status: 403, type: 'permission_error' });
    expect(mapException('UnrecognizedClientException', 403)).toEqual({ status: 401, type: 'authentication_error' });
    expect(mapException('ValidationException', 400)).toEqual({ status: 400, type: 'invalid_request_error' });
    expect(mapException(undefined, 502)).toEqual({ status: 502, type: 'api_error' });
    const held = bedrockHttpError(400, Buffer.from('{"message":"Too many tokens"}'), { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/', 'retry-after': '3' });
    expect(held.status).toBe(429);
    expect(held.headers['retry-after']).toBe('3');
    expect(JSON.parse(held.body.toString())).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Bedrock ThrottlingException: Too many tokens' } });
  });
});

describe('Vertex', () => {
  it("Google's errors become Anthropic's; the model's own Anthropic errors pass as they are", () => {
    const google = vertex.translateError!({ status: 429, headers: {}, body: Buffer.from('{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}') });
    expect(google.status).toBe(429);
    expect(JSON.parse(google.body.toString())).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Vertex AI RESOURCE_EXHAUSTED: Quota exceeded' } });
    const listed = vertex.translateError!({ status: 401, headers: {}, body: Buffer.from('[{"error":{"code":401,"message":"bad token","status":"UNAUTHENTICATED"}}]') });
    expect(JSON.parse(listed.body.toString()).error).toEqual({ type: 'authentication_error', message: 'Vertex AI UNAUTHENTICATED: bad token' });
    const own = { status: 529, headers: {}, body: Buffer.from('{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}') };
    expect(vertex.translateError!(own)).toBe(own);
  });

  it('the JWT assertion is RS256 over the claims Google checks, for the key file\'s own token_uri', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const account = { client_email: 'sa@p.iam.gserviceaccount.com', private_key: '', private_key_id: 'kid1', token_uri: 'https://tokens.example/token' };
    const jwt = jwtAssertion(account, createPrivateKey(privateKey.export({ type: 'pkcs8', format: 'pem' })), 1_800_000_000);
    const [head, claims, signature] = jwt.split('.');
    expect(JSON.parse(Buffer.from(head!, 'base64url').toString())).toEqual({ alg: 'RS256', typ: 'JWT', kid: 'kid1' });
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toEqual({ iss: account.client_email, scope: SCOPE, aud: account.token_uri, iat: 1_800_000_000, exp: 1_800_003_600 });
    expect(verify('RSA-SHA256', Buffer.from(`${head}.${claims}`), createPublicKey(publicKey.export({ type: 'spki', format: 'pem' })), Buffer.from(signature!, 'base64url'))).toBe(true);
  });
});
