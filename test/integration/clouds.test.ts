import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import Database from 'better-sqlite3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { Harness, eventually } from '../helpers/servers.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';
import { AWS, useAwsTestEnv, privateKeyNeedle, serviceAccount, serviceAccountFile, writeAwsProfile } from '../helpers/clouds.js';
import { createLogger } from '../../src/log.js';
import { forgetAwsCredentials } from '../../src/protocols/bedrock/credentials.js';
import type { Simulator } from '../../src/sim/simulator.js';

/**
 * Claude on Bedrock and Vertex as endpoints (protocols/bedrock, protocols/vertex), through the official SDK, against
 * simulated clouds that verify what the real ones verify: SigV4 signatures, the service account's signed JWT and
 * the tokens issued for it, the body each cloud expects.
 */

const h = new Harness();
const aws = useAwsTestEnv();
afterEach(() => h.closeAll());

const SONNET = 'claude-sonnet-4-5-20250929';
const ASK = { model: SONNET, max_tokens: 64, messages: [{ role: 'user' as const, content: 'Reply with exactly: teal-heron' }] };
const TOOLS = [{ name: 'Bash', description: 'run a command', input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } } }];

function logSink() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { text: () => lines.join(''), logger: createLogger('debug', { destination }) };
}

async function bedrockSim(extra: Partial<typeof AWS> & { apiKey?: string } = {}): Promise<Simulator> {
  return h.sim({ name: 'bedrock', bedrock: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey, ...extra } });
}

async function vertexSim(): Promise<{ sim: Simulator; credentials: string; account: ReturnType<typeof serviceAccount> }> {
  const account = serviceAccount();
  const sim = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey } });
  return { sim, credentials: serviceAccountFile(account, `${sim.url}/token`), account };
}

const bedrockEndpoint = (sim: Simulator, extra: Record<string, unknown> = {}) => ({ id: 'bedrock', protocol: 'bedrock', base_url: sim.url, bedrock: { region: 'us-east-1' }, ...extra });
const vertexEndpoint = (sim: Simulator, credentials: string, extra: Record<string, unknown> = {}) => ({
  id: 'vertex',
  protocol: 'vertex',
  base_url: sim.url,
  vertex: { project: 'qcc-test-project', region: 'us-east5', credentials_file: credentials },
  ...extra,
});

function rows(statsFile: string): { endpoint_id: string; model: string; status: number; input_tokens: number; output_tokens: number; cost_usd: number; attempts: string; error: string | null }[] {
  const db = new Database(statsFile, { readonly: true });
  try {
    return db.prepare('SELECT * FROM requests ORDER BY id').all() as ReturnType<typeof rows>;
  } finally {
    db.close();
  }
}

describe('Amazon Bedrock endpoints', () => {
  it('streaming and JSON through the SDK: SigV4-signed, model in the URL, betas in the body, usage and cost recorded', async () => {
    const sim = await bedrockSim();
    const statsFile = join(mkdtempSync(join(tmpdir(), 'qcc-bedrock-')), 'qcc.db');
    const { app, url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sim)] }, { statsFile });
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });

    const text = await client.messages.stream(ASK, { headers: { 'anthropic-beta': 'interleaved-thinking-2025-05-14,oauth-2025-04-20' } }).finalText();
    expect(text).toBe('teal-heron');
    const streamed = sim.requests.at(-1)!;
    expect(streamed.path).toBe('/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream');
    expect(streamed.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAQCCTESTKEY000001\/\d{8}\/us-east-1\/bedrock\/aws4_request, /);
    expect(streamed.headers['x-api-key']).toBeUndefined();
    const body = JSON.parse(streamed.body.toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', anthropic_beta: ['interleaved-thinking-2025-05-14'], max_tokens: 64 });
    expect(body.model).toBeUndefined();
    expect(body.stream).toBeUndefined();

    const json = await client.messages.create(ASK);
    expect(json.content).toEqual([{ type: 'text', text: 'teal-heron' }]);
    expect(sim.requests.at(-1)!.path).toBe('/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke');

    // The raw stream is a well-formed Anthropic stream, event for event, Bedrock's own message_stop metrics kept.
    const raw = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...ASK, stream: true }) });
    expect(raw.headers['content-type']).toContain('text/event-stream');
    const events = validateAnthropicStream(await raw.body.text());
    // The same events, in the same order, as the Anthropic simulator sends for the same request.
    const api = await h.sim({ name: 'api' });
    const direct = await request(`${api.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream: true }) });
    const expected = validateAnthropicStream(await direct.body.text());
    expect(events.map((e) => e.event)).toEqual(expected.map((e) => e.event));
    expect(events.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta)).toEqual(expected.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta));
    // Bedrock's own invocation metrics ride on message_stop, passed through as they came.
    expect(events.at(-1)!.data).toMatchObject({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: expect.any(Number) } });
    expect(sim.cloud.authFailures).toBe(0);

    app.flushStats();
    const logged = rows(statsFile);
    expect(logged).toHaveLength(3);
    for (const r of logged) {
      expect(r).toMatchObject({ endpoint_id: 'bedrock', model: SONNET, status: 200 });
      expect(r.input_tokens).toBeGreaterThan(0);
      expect(r.output_tokens).toBeGreaterThan(0);
      expect(r.cost_usd).toBeGreaterThan(0);
    }
  });

  it('a tool-use round trip streams tool_use blocks with their input', async () => {
    const sim = await bedrockSim();
    sim.behavior = { toolCalls: [{ name: 'Bash', arguments: { command: 'echo hi' } }] };
    const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sim)] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    const call = await client.messages.stream({ ...ASK, tools: TOOLS }).finalMessage();
    expect(call.stop_reason).toBe('tool_use');
    const use = call.content.find((b) => b.type === 'tool_use')!;
    expect(use).toMatchObject({ name: 'Bash', input: { command: 'echo hi' } });
    const answer = await client.messages.stream({
      ...ASK,
      tools: TOOLS,
      messages: [...ASK.messages, { role: 'assistant', content: call.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: (use as { id: string }).id, content: 'hi' }] }],
    }).finalText();
    expect(answer).toBe('Tool result: hi');
  });

  it('a wrong secret is refused with 403 InvalidSignatureException, reported as an authentication error', async () => {
    const sim = await h.sim({ name: 'bedrock', bedrock: { accessKeyId: AWS.accessKeyId, secretAccessKey: 'the-real-secret-is-different' } });
    const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sim)] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ASK) });
    expect(res.statusCode).toBe(401);
    const error = (await res.body.json()) as { type: string; error: { type: string; message: string } };
    expect(error.error.type).toBe('authentication_error');
    expect(error.error.message).toContain('Bedrock InvalidSignatureException: The request signature we calculated does not match');
    expect(sim.cloud.authFailures).toBe(1);
  });

  it('temporary credentials carry their session token; a named profile is read from the shared credentials file', async () => {
    const sessionSim = await bedrockSim({ sessionToken: 'qcc-session-token-1' });
    process.env.AWS_SESSION_TOKEN = 'qcc-session-token-1';
    forgetAwsCredentials();
    try {
      const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sessionSim)] });
      const ok = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      expect(ok.statusCode).toBe(200);
      await ok.body.text();
      expect(sessionSim.requests.at(-1)!.headers['x-amz-security-token']).toBe('qcc-session-token-1');
    } finally {
      delete process.env.AWS_SESSION_TOKEN;
      forgetAwsCredentials();
    }
    const profile = { accessKeyId: 'AKIAQCCPROFILEKEY002', secretAccessKey: 'profile/secret/key/for/the/test/only00' };
    writeAwsProfile(aws.env, 'team-bedrock', profile);
    const profileSim = await h.sim({ name: 'bedrock-p', bedrock: profile });
    const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(profileSim, { bedrock: { region: 'eu-west-1', profile: 'team-bedrock' } })] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(profileSim.requests.at(-1)!.path).toBe('/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke');
    expect(profileSim.requests.at(-1)!.headers.authorization).toContain('Credential=AKIAQCCPROFILEKEY002/');
  });

  it('a Bedrock API key is sent as a bearer token, no signature; a pool of them fails over key by key', async () => {
    const sim = await bedrockSim({ apiKey: 'bedrock-api-key-good' });
    const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sim, { api_keys: ['bedrock-api-key-revoked', 'bedrock-api-key-good'] })] });
    for (let i = 0; i < 2; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    const auths = sim.requests.map((r) => r.headers.authorization);
    expect(auths).toContain('Bearer bedrock-api-key-good');
    expect(auths.every((a) => a?.startsWith('Bearer '))).toBe(true);
    expect(sim.requests.at(-1)!.headers.authorization).toBe('Bearer bedrock-api-key-good');
  });

  it('throttling fails over to an Anthropic endpoint and sets the credential aside, not the endpoint', async () => {
    const bedrock = await bedrockSim();
    const api = await h.sim({ name: 'api' });
    const { url, app } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [bedrockEndpoint(bedrock, { priority: 0 }), { id: 'api', base_url: api.url, api_key: 'sk-api', priority: 1 }] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    bedrock.script = [{ status: 429, errorMessage: 'Too many requests, please wait before trying again.' }];
    const first = await client.messages.create(ASK).withResponse();
    expect(first.response.headers.get('x-qcc-endpoint')).toBe('api');
    expect(bedrock.messageCalls).toBe(1);
    // Throttling set the credential aside, as a 429 sets a key aside: its breaker stays closed, and with its one
    // credential cooling the endpoint is passed over until the cool-down ends, instead of being asked again.
    expect(app.pool.get('bedrock')!.breaker.state).toBe('closed');
    expect(app.pool.get('bedrock')!.state(Date.now())).toBe('cooling');
    const second = await client.messages.create(ASK).withResponse();
    expect(second.response.headers.get('x-qcc-endpoint')).toBe('api');
    expect(bedrock.messageCalls).toBe(1);
  });

  it('an exception frame before the first content fails over; one after it ends the stream with an error event', async () => {
    const bedrock = await bedrockSim();
    const api = await h.sim({ name: 'api' });
    // Each case on a fresh proxy: the overload exception cools the endpoint down, as it should.
    const proxy = () => h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [bedrockEndpoint(bedrock, { priority: 0 }), { id: 'api', base_url: api.url, api_key: 'sk-api', priority: 1 }] });
    bedrock.script = [{ errorEventAfterDeltas: 0 }];
    const before = await request(`${(await proxy()).url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream: true }) });
    expect(before.headers['x-qcc-endpoint']).toBe('api');
    validateAnthropicStream(await before.body.text());

    bedrock.script = [{ errorEventAfterDeltas: 3 }];
    const after = await request(`${(await proxy()).url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream: true }) });
    expect(after.headers['x-qcc-endpoint']).toBe('bedrock');
    const text = await after.body.text();
    expect(text).toContain('event: error');
    expect(text).toContain('Bedrock serviceUnavailableException');
    expect(text.match(/event: content_block_delta/g)).toHaveLength(3);
  });

  it('a model with no Bedrock id skips the endpoint instead of failing; model_map overrides the built-in ids', async () => {
    const bedrock = await bedrockSim();
    const api = await h.sim({ name: 'api' });
    const { url } = await h.proxy({
      version: 1,
      proxy: { strategy: 'priority' },
      endpoints: [bedrockEndpoint(bedrock, { model_map: { 'claude-opus-4-8': 'global.anthropic.claude-opus-4-8-v1' } }), { id: 'api', base_url: api.url, api_key: 'sk-api', priority: 1 }],
    });
    const send = (model: string) => request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, model }) });
    const unmapped = await send('claude-sonnet-5');
    expect(unmapped.headers['x-qcc-endpoint']).toBe('api');
    await unmapped.body.text();
    expect(bedrock.messageCalls).toBe(0);
    const mapped = await send('claude-opus-4-8');
    expect(mapped.headers['x-qcc-endpoint']).toBe('bedrock');
    await mapped.body.text();
    expect(bedrock.requests.at(-1)!.path).toBe('/model/global.anthropic.claude-opus-4-8-v1/invoke');

    // Served nowhere: a 404 that says what to change (Claude Code shows it and does not retry), not a 503 to wait out.
    const { url: alone } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(bedrock), { id: 'relay', base_url: api.url, models: ['claude-haiku-*'] }] });
    const res = await request(`${alone}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, model: 'claude-sonnet-5' }) });
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toMatchObject({
      error: {
        type: 'not_found_error',
        message: 'no endpoint serves model "claude-sonnet-5": bedrock has no Bedrock model id for it (map one: qcc endpoint set bedrock --model-map \'claude-sonnet-5=…\'); relay serves only claude-haiku-*',
      },
    });
  });

  it('health checks are real conversations through the same signing and translation', async () => {
    const sim = await bedrockSim();
    const { app } = await h.proxy({ version: 1, health: { interval_s: 0 }, endpoints: [bedrockEndpoint(sim)] });
    const [result] = await app.health.checkEndpoint(app.pool.get('bedrock')!);
    expect(result).toMatchObject({ ok: true, correct: true, usage_present: true, status: 200 });
    expect(sim.requests.at(-1)!.path).toBe('/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke-with-response-stream');
  });
});

describe('Google Vertex AI endpoints', () => {
  it('streaming, JSON and count_tokens through the SDK: one token, fetched ahead with the signed JWT and reused', async () => {
    const { sim, credentials } = await vertexSim();
    const statsFile = join(mkdtempSync(join(tmpdir(), 'qcc-vertex-')), 'qcc.db');
    const { app, url } = await h.proxy({ version: 1, endpoints: [vertexEndpoint(sim, credentials)] }, { statsFile });
    // Fetched when the config applied, before any request (warm): no request waits for it.
    await eventually(() => sim.cloud.tokensIssued === 1);
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });

    const text = await client.messages.stream(ASK, { headers: { 'anthropic-beta': 'context-1m-2025-08-07' } }).finalText();
    expect(text).toBe('teal-heron');
    const streamed = sim.requests.at(-1)!;
    expect(streamed.path).toBe('/v1/projects/qcc-test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict');
    expect(streamed.headers.authorization).toMatch(/^Bearer ya29\.sim-/);
    expect(streamed.headers['anthropic-beta']).toBe('context-1m-2025-08-07');
    const body = JSON.parse(streamed.body.toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ anthropic_version: 'vertex-2023-10-16', stream: true });
    expect(body.model).toBeUndefined();

    const json = await client.messages.create(ASK);
    expect(json.content).toEqual([{ type: 'text', text: 'teal-heron' }]);
    expect(sim.requests.at(-1)!.path).toMatch(/claude-sonnet-4-5@20250929:rawPredict$/);

    const counted = await client.messages.countTokens({ model: SONNET, messages: ASK.messages });
    expect(counted.input_tokens).toBeGreaterThan(0);
    const countCall = sim.requests.at(-1)!;
    expect(countCall.path).toBe('/v1/projects/qcc-test-project/locations/us-east5/publishers/anthropic/models/count-tokens:rawPredict');
    expect(JSON.parse(countCall.body.toString())).toMatchObject({ model: 'claude-sonnet-4-5@20250929', anthropic_version: 'vertex-2023-10-16' });

    const raw = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream: true }) });
    validateAnthropicStream(await raw.body.text());
    expect(sim.cloud.tokenRequests).toBe(1);
    expect(sim.cloud.authFailures).toBe(0);

    app.flushStats();
    const logged = rows(statsFile).filter((r) => r.endpoint_id === 'vertex' && r.status === 200);
    expect(logged.length).toBeGreaterThanOrEqual(3);
    expect(logged.filter((r) => r.cost_usd > 0).length).toBeGreaterThanOrEqual(3);
  });

  it('an Anthropic 529 fails over to Vertex; a Vertex quota error (Google-shaped) fails over back, as an Anthropic 429', async () => {
    const { sim: vertex, credentials } = await vertexSim();
    const api = await h.sim({ name: 'api' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ id: 'api', base_url: api.url, api_key: 'sk-api', priority: 0 }, vertexEndpoint(vertex, credentials, { priority: 1 })] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    api.script = [{ status: 529 }];
    const first = await client.messages.create(ASK).withResponse();
    expect(first.response.headers.get('x-qcc-endpoint')).toBe('vertex');

    // Vertex alone, over quota: the client sees an Anthropic rate_limit_error carrying Google's words.
    const { url: vertexOnly } = await h.proxy({ version: 1, endpoints: [vertexEndpoint(vertex, credentials)] });
    vertex.script = [{ status: 429 }];
    const limited = await request(`${vertexOnly}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(limited.statusCode).toBe(429);
    const error = (await limited.body.json()) as { type: string; error: { type: string; message: string } };
    expect(error).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(error.error.message).toContain('Vertex AI RESOURCE_EXHAUSTED: Quota exceeded');
  });

  it('a token endpoint that fails: requests fail over at once, with an error naming the token URL and the credential', async () => {
    const { sim: vertex, credentials } = await vertexSim();
    vertex.cloud.tokenFailStatus = 503;
    const api = await h.sim({ name: 'api' });
    const log = logSink();
    const { url, app } = await h.proxy(
      { version: 1, proxy: { strategy: 'priority' }, endpoints: [vertexEndpoint(vertex, credentials, { priority: 0 }), { id: 'api', base_url: api.url, api_key: 'sk-api', priority: 1 }] },
      { logger: log.logger },
    );
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    const answer = await client.messages.create(ASK).withResponse();
    expect(answer.response.headers.get('x-qcc-endpoint')).toBe('api');
    expect(vertex.messageCalls).toBe(0);
    const lastError = app.pool.get('vertex')!.lastError ?? '';
    expect(lastError).toContain(`token refresh failed at ${vertex.url}/token`);
    expect(lastError).toContain(`service account qcc-test@qcc-test-project.iam.gserviceaccount.com from ${credentials}`);
    expect(lastError).toContain('HTTP 503');
    // The fetch made when the config applied failed first, and said so in the log.
    expect(log.text()).toContain('endpoint credentials are not ready');
  });

  it('a token refused before its expiry (revoked) is dropped: the next request gets a fresh one', async () => {
    const { sim, credentials } = await vertexSim();
    const api = await h.sim({ name: 'api' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [vertexEndpoint(sim, credentials, { priority: 0 }), { id: 'api', base_url: api.url, priority: 1 }] });
    await eventually(() => sim.cloud.tokensIssued === 1);
    await new Promise((r) => setTimeout(r, 5));
    sim.cloud.revokedBefore = Date.now();
    // Refused once, then sent again at once with a new token: the client sees only the answer.
    const first = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(first.headers['x-qcc-endpoint']).toBe('vertex');
    expect(first.statusCode).toBe(200);
    await first.body.text();
    expect(sim.cloud.authFailures).toBe(1);
    expect(sim.cloud.tokensIssued).toBe(2);
    expect(api.messageCalls).toBe(0);
    // A token refused as soon as it is issued means the account is refused: no loop, the other endpoint answers.
    sim.cloud.revokedBefore = Date.now() + 60_000;
    const second = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(second.headers['x-qcc-endpoint']).toBe('api');
    await second.body.text();
    expect(sim.cloud.tokensIssued).toBeLessThanOrEqual(3);
  });

  it('Application Default Credentials from a gcloud user login: the refresh-token grant at its token URI, through qcc', async () => {
    const account = serviceAccount();
    const user = { clientId: '7640.apps.googleusercontent.com', clientSecret: 'd-FL95Q19q7MQmFpd7hHD0Ty', refreshToken: '1//qcc-test-refresh-token', email: 'dev@example.com' };
    const sim = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey, users: [user] } });
    const adc = join(mkdtempSync(join(tmpdir(), 'qcc-adc-')), 'application_default_credentials.json');
    writeFileSync(adc, JSON.stringify({ type: 'authorized_user', client_id: user.clientId, client_secret: user.clientSecret, refresh_token: user.refreshToken, token_uri: `${sim.url}/token` }), { mode: 0o600 });
    const saved = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = adc;
    try {
      const log = logSink();
      // No credentials_file: Application Default Credentials.
      const { url } = await h.proxy({ version: 1, endpoints: [{ id: 'adc', protocol: 'vertex', base_url: sim.url, vertex: { project: account.project, region: 'global' } }] }, { logger: log.logger });
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      expect(sim.cloud.callsByAccount).toEqual({ 'dev@example.com': 1 });
      expect(log.text()).not.toContain(user.refreshToken);
      expect(log.text()).not.toContain(user.clientSecret);
    } finally {
      if (saved === undefined) delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
      else process.env.GOOGLE_APPLICATION_CREDENTIALS = saved;
    }
  });

  it('an expired or forged token is refused by the simulator (401), and qcc refreshes before expiry', async () => {
    const account = serviceAccount();
    const sim = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey, tokenTtlS: 200 } });
    const credentials = serviceAccountFile(account, `${sim.url}/token`);
    // A token with 200 s to live is inside the refresh window (5 min): served, and replaced in the background.
    const { url } = await h.proxy({ version: 1, endpoints: [vertexEndpoint(sim, credentials)] });
    await eventually(() => sim.cloud.tokensIssued >= 1);
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    await eventually(() => sim.cloud.tokensIssued >= 2);

    const forged = await request(`${sim.url}/v1/projects/qcc-test-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict`, {
      method: 'POST',
      headers: { authorization: 'Bearer ya29.sim-forged' },
      body: JSON.stringify({ anthropic_version: 'vertex-2023-10-16', max_tokens: 5, messages: [] }),
    });
    expect(forged.statusCode).toBe(401);
    await forged.body.text();

    // A JWT signed by another key is refused by the token endpoint.
    const other = serviceAccount();
    const wrongFile = serviceAccountFile({ ...other, clientEmail: account.clientEmail }, `${sim.url}/token`);
    const { url: wrong, app } = await h.proxy({ version: 1, endpoints: [vertexEndpoint(sim, wrongFile)] });
    const refused = await request(`${wrong}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(refused.statusCode).toBe(502);
    const body = await refused.body.text();
    expect(body).toContain('Invalid JWT Signature');
    expect(app.pool.get('vertex')!.lastError).toContain('invalid_grant');
  });
});

describe('secrets of cloud credentials', () => {
  it('no AWS secret, session token or private key in logs, the request log, status, the admin API or exports', async () => {
    process.env.AWS_SESSION_TOKEN = AWS.sessionToken;
    forgetAwsCredentials();
    try {
      const bedrock = await bedrockSim({ sessionToken: AWS.sessionToken });
      const { sim: vertex, credentials, account } = await vertexSim();
      const log = logSink();
      const statsFile = join(mkdtempSync(join(tmpdir(), 'qcc-secrets-')), 'qcc.db');
      const { url, app } = await h.proxy(
        { version: 1, endpoints: [bedrockEndpoint(bedrock), vertexEndpoint(vertex, credentials), bedrockEndpoint(bedrock, { id: 'bedrock-key', api_key: 'ABSKbedrockApiKeySecretValue0123456789' })] },
        { logger: log.logger, statsFile, adminToken: 'admin-token-123456' },
      );
      bedrock.script = [{ status: 403 }, { errorEventAfterDeltas: 1 }];
      for (const stream of [false, true, false, true]) {
        const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream }) });
        await res.body.text();
      }
      app.flushStats();
      const outputs: string[] = [log.text(), JSON.stringify(rows(statsFile))];
      for (const path of ['/api/endpoints', '/api/status', '/api/requests', '/api/config/export', '/_qcc/status', '/metrics']) {
        const res = await request(`${url}${path}`, { headers: { authorization: 'Bearer admin-token-123456' } });
        const text = await res.body.text();
        expect(res.statusCode, path).toBe(200);
        outputs.push(`${path} ${text}`);
      }
      const all = outputs.join('\n');
      expect(all).toContain('bedrock'); // the outputs are real, not empty
      for (const secret of [AWS.secretAccessKey, AWS.sessionToken, privateKeyNeedle(account.privateKey), 'ABSKbedrockApiKeySecretValue0123456789']) {
        expect(all).not.toContain(secret);
      }
      // An export asked for with its secrets carries the endpoints' keys (that is what it is for), and still no AWS
      // secret or private key: qcc never holds those, it reads them from the chain and the key file when it needs them.
      const withSecrets = await (await request(`${url}/api/config/export?secrets=1`, { headers: { authorization: 'Bearer admin-token-123456' } })).body.text();
      expect(withSecrets).toContain('ABSKbedrockApiKeySecretValue0123456789');
      for (const secret of [AWS.secretAccessKey, AWS.sessionToken, privateKeyNeedle(account.privateKey)]) expect(withSecrets).not.toContain(secret);
    } finally {
      delete process.env.AWS_SESSION_TOKEN;
      forgetAwsCredentials();
    }
  });
});

describe('count_tokens on the clouds', () => {
  it('Bedrock: CountTokens with the InvokeModel body for the foundation model; its failure becomes an estimate, not an error', async () => {
    const sim = await bedrockSim();
    const { url } = await h.proxy({ version: 1, endpoints: [bedrockEndpoint(sim)] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client-key', maxRetries: 0 });
    const counted = await client.messages.countTokens({ model: SONNET, messages: ASK.messages }).withResponse();
    expect(counted.data.input_tokens).toBeGreaterThan(0);
    expect(counted.response.headers.get('x-qcc-estimated')).toBeNull();
    const sent = sim.requests.at(-1)!;
    expect(sent.path).toBe('/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens');
    const inner = JSON.parse(Buffer.from((JSON.parse(sent.body.toString()) as { input: { invokeModel: { body: string } } }).input.invokeModel.body, 'base64').toString()) as Record<string, unknown>;
    expect(inner).toMatchObject({ anthropic_version: 'bedrock-2023-05-31', messages: ASK.messages });
    expect(inner.model).toBeUndefined();

    sim.behavior = { status: 400 };
    const estimated = await client.messages.countTokens({ model: SONNET, messages: ASK.messages }).withResponse();
    expect(estimated.response.headers.get('x-qcc-estimated')).toBe('true');
    expect(estimated.data.input_tokens).toBeGreaterThan(0);
  });
});

describe('pools of cloud credentials', () => {
  it('Bedrock: several AWS profiles rotate as a key pool; a throttled one is set aside for the next', async () => {
    const first = { accessKeyId: 'AKIAQCCPOOLFIRST0001', secretAccessKey: 'first/secret/key/for/the/pool/test/000' };
    const second = { accessKeyId: 'AKIAQCCPOOLSECOND002', secretAccessKey: 'second/secret/key/for/the/pool/test/00' };
    writeFileSync(aws.env.AWS_SHARED_CREDENTIALS_FILE!, `[one]\naws_access_key_id = ${first.accessKeyId}\naws_secret_access_key = ${first.secretAccessKey}\n[two]\naws_access_key_id = ${second.accessKeyId}\naws_secret_access_key = ${second.secretAccessKey}\n`, { mode: 0o600 });
    forgetAwsCredentials();
    const sim = await h.sim({ name: 'bedrock', bedrock: { ...first, more: [second] } });
    const { url, app } = await h.proxy({ version: 1, endpoints: [{ id: 'bedrock', protocol: 'bedrock', base_url: sim.url, bedrock: { region: 'us-east-1', profiles: ['one', 'two'] } }] });
    sim.cloud.throttled = [first.accessKeyId];
    for (let i = 0; i < 4; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      const text = await res.body.text();
      expect(res.statusCode, text).toBe(200);
    }
    expect(sim.cloud.callsByAccount).toEqual({ [first.accessKeyId]: 1, [second.accessKeyId]: 4 }); // throttled once, then set aside
    expect(app.pool.get('bedrock')!.keys.usableCount(Date.now())).toBe(1);
    expect(sim.cloud.authFailures).toBe(0);
  });

  it('Vertex: several service accounts rotate as a key pool, each with its own token', async () => {
    const a = serviceAccount();
    const b = serviceAccount();
    b.clientEmail = `second-${b.clientEmail}`;
    const sim = await h.sim({ name: 'vertex', vertex: { project: a.project, clientEmail: a.clientEmail, publicKey: a.publicKey, more: [{ clientEmail: b.clientEmail, publicKey: b.publicKey }] } });
    const files = [serviceAccountFile(a, `${sim.url}/token`), serviceAccountFile(b, `${sim.url}/token`)];
    const { url } = await h.proxy({ version: 1, endpoints: [{ id: 'vertex', protocol: 'vertex', base_url: sim.url, vertex: { project: a.project, region: 'global', credentials_files: files } }] });
    for (let i = 0; i < 4; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      const text = await res.body.text();
      expect(res.statusCode, text).toBe(200);
    }
    expect(sim.cloud.callsByAccount[a.clientEmail]).toBeGreaterThan(0);
    expect(sim.cloud.callsByAccount[b.clientEmail]).toBeGreaterThan(0);
    expect(sim.cloud.tokensIssued).toBe(2); // one each, fetched ahead and reused

    // Quota is per account: the throttled one is set aside, the other answers.
    sim.cloud.throttled = [a.clientEmail];
    const before = sim.cloud.callsByAccount[b.clientEmail]!;
    for (let i = 0; i < 3; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    expect(sim.cloud.callsByAccount[b.clientEmail]! - before).toBe(3);
  });
});
