import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { Harness } from '../helpers/servers.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';
import { AWS, useAwsTestEnv, serviceAccount, serviceAccountFile } from '../helpers/clouds.js';
import { PROTOCOLS } from '../../src/config/schema.js';
import { protocolNamed } from '../../src/protocols/index.js';
import type { Simulator } from '../../src/sim/simulator.js';

/**
 * The contract every protocol keeps (protocols/contract.ts), checked the same way for each: whatever the endpoint
 * speaks, the client gets the Messages API — a valid stream, a message, Anthropic-shaped errors with their meaning
 * kept, failover before the first content — and the health check talks to it the way live traffic does. A new
 * protocol adds one entry to SETUPS and passes this file.
 */

const h = new Harness();
useAwsTestEnv();
afterEach(() => h.closeAll());

interface Setup {
  sim: Simulator;
  endpoint: Record<string, unknown>;
}

const SETUPS: Record<string, () => Promise<Setup>> = {
  anthropic: async () => {
    const sim = await h.sim({ name: 'anthropic' });
    return { sim, endpoint: { id: 'under-test', base_url: sim.url, api_key: 'sk-ant-test' } };
  },
  openai: async () => {
    const sim = await h.sim({ name: 'openai' });
    return { sim, endpoint: { id: 'under-test', protocol: 'openai', base_url: sim.url, api_key: 'sk-openai-test' } };
  },
  bedrock: async () => {
    const sim = await h.sim({ name: 'bedrock', bedrock: { accessKeyId: AWS.accessKeyId, secretAccessKey: AWS.secretAccessKey } });
    return { sim, endpoint: { id: 'under-test', protocol: 'bedrock', base_url: sim.url, bedrock: { region: 'us-west-2' } } };
  },
  vertex: async () => {
    const account = serviceAccount();
    const sim = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey } });
    const file = serviceAccountFile(account, `${sim.url}/token`);
    return { sim, endpoint: { id: 'under-test', protocol: 'vertex', base_url: sim.url, vertex: { project: account.project, region: 'global', credentials_file: file } } };
  },
};

const ASK = { model: 'claude-sonnet-4-5-20250929', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Reply with exactly: amber-lynx' }] };

it('every protocol the config accepts is registered and has a contract setup here', () => {
  for (const name of PROTOCOLS) {
    expect(protocolNamed(name).name).toBe(name);
    expect(SETUPS[name], `a contract setup for ${name}`).toBeDefined();
  }
});

describe.each(Object.keys(SETUPS))('the %s protocol keeps the contract', (name) => {
  it('a streamed answer is a valid Messages stream with the text and usage', async () => {
    const { endpoint } = await SETUPS[name]!();
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...ASK, stream: true }) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = validateAnthropicStream(await res.body.text());
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data.delta as { text?: string }).text ?? '').join('');
    expect(text).toBe('amber-lynx');
    const delta = events.find((e) => e.event === 'message_delta')!;
    expect((delta.data.usage as { output_tokens: number }).output_tokens).toBeGreaterThan(0);
  });

  it('a JSON answer is a Messages object, through the official SDK', async () => {
    const { endpoint } = await SETUPS[name]!();
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint] });
    const msg = await new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 }).messages.create(ASK);
    expect(msg.type).toBe('message');
    expect(msg.content).toEqual([{ type: 'text', text: 'amber-lynx' }]);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
  });

  it("a rate limit in the endpoint's own words reaches the client as Anthropic's 429 rate_limit_error", async () => {
    const { sim, endpoint } = await SETUPS[name]!();
    const { url } = await h.proxy({ version: 1, endpoints: [endpoint] });
    sim.script = [{ status: 429, retryAfter: 7 }];
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(res.statusCode).toBe(429);
    const body = (await res.body.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('an error before the first content fails over to another endpoint, the client none the wiser', async () => {
    const { sim, endpoint } = await SETUPS[name]!();
    const backup = await h.sim({ name: 'backup' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [{ ...endpoint, priority: 0 }, { id: 'backup', base_url: backup.url, priority: 1 }] });
    sim.script = [{ errorEventAfterDeltas: 0 }];
    const streamed = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...ASK, stream: true }) });
    expect(streamed.headers['x-qcc-endpoint']).toBe('backup');
    validateAnthropicStream(await streamed.body.text());
    sim.script = [{ status: 500 }];
    const json = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(ASK) });
    expect(json.statusCode).toBe(200);
    expect(json.headers['x-qcc-endpoint']).toBe('backup');
    await json.body.text();
  });

  it('the health check is a real conversation through the protocol', async () => {
    const { endpoint } = await SETUPS[name]!();
    const { app } = await h.proxy({ version: 1, health: { interval_s: 0 }, endpoints: [endpoint] });
    const [result] = await app.health.checkEndpoint(app.pool.get('under-test')!);
    expect(result).toMatchObject({ ok: true, correct: true, usage_present: true });
  });
});
