import Anthropic from '@anthropic-ai/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { Harness } from '../helpers/servers.js';

/** A key of a pool is a key's failure, not the endpoint's, and never the client's (issue #20, item 5). */

const harness = new Harness();
afterAll(() => harness.closeAll());

describe('key pools', () => {
  it('a rejected first key: every answer is 200 (the next key serves), and the bad key is set aside', async () => {
    const sim = await harness.sim({ name: 'sim', behavior: { requireKey: 'sk-good' } });
    const records: string[][] = [];
    const { url, app } = await harness.proxy(
      { version: 1, endpoints: [{ id: 'pool', base_url: sim.url, api_keys: ['bad-key-1', 'sk-good'] }] },
      { observer: { requestFinished: (r) => records.push(r.attempts.map((a) => `${a.endpointId}:${a.status ?? a.error}`)) } },
    );
    const client = new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 });
    for (let i = 0; i < 6; i++) {
      const msg = await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      expect(msg.type).toBe('message');
    }
    // The first request met the bad key and went on to the good one; after that the bad key is not used.
    expect(records[0]).toEqual(['pool:401', 'pool:200']);
    expect(records.slice(1).every((chain) => chain.length === 1 && chain[0] === 'pool:200')).toBe(true);
    const status = app.status().endpoints[0]!;
    expect(status).toMatchObject({ keys_total: 2, keys_usable: 1, state: 'healthy' });
  });

  it('a rate-limited key: the next key of the same endpoint serves at once', async () => {
    const sim = await harness.sim({ name: 'sim', script: [{ status: 429, retryAfter: 30 }] });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'pool', base_url: sim.url, api_keys: ['k1', 'k2'] }] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 });
    const raw = await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(raw.response.headers.get('x-qcc-attempts')).toBe('2');
    expect(sim.requests.map((r) => r.headers['x-api-key'])).toEqual(['k1', 'k2']);
  });

  it('every key refused: the endpoint\'s own answer, after each key was tried once', async () => {
    const sim = await harness.sim({ name: 'sim', behavior: { requireKey: 'none-of-these' } });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'pool', base_url: sim.url, api_keys: ['k1', 'k2', 'k3'] }] });
    const client = new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 });
    const err = (await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)) as InstanceType<typeof Anthropic.APIError>;
    expect(err.status).toBe(401);
    expect(sim.requests.map((r) => r.headers['x-api-key'])).toEqual(['k1', 'k2', 'k3']);
  });
});
