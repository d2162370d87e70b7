import { afterAll, describe, expect, it } from 'vitest';
import { Harness, rawRequest } from '../helpers/servers.js';

/** GET /v1/models answered by qcc: the union of what its endpoints serve, in time even when one is slow. */

const harness = new Harness();
afterAll(() => harness.closeAll());

const models = async (url: string, query = '?limit=1000') => {
  const t0 = performance.now();
  const r = await rawRequest(`${url}/v1/models${query}`, { headers: { 'x-api-key': 'client' } });
  return { status: r.status, ms: performance.now() - t0, body: JSON.parse(r.body) as { data: { id: string; type: string }[]; has_more: boolean; first_id: string | null; last_id: string | null } };
};

describe('model discovery', () => {
  it('lists the union of configured names, model_map names and what keyed endpoints list themselves', async () => {
    const keyed = await harness.sim({ name: 'keyed', behavior: { models: ['claude-opus-4-8', 'claude-sonnet-5'] } });
    const relay = await harness.sim({ name: 'relay' });
    const vendor = await harness.sim({ name: 'vendor' });
    const { url } = await harness.proxy({
      version: 1,
      endpoints: [
        { id: 'keyed', base_url: keyed.url, api_key: 'sk-keyed' },
        { id: 'relay', base_url: relay.url, models: ['claude-haiku-4-5-20251001'] },
        { id: 'vendor', base_url: vendor.url, api_key: 'k', protocol: 'openai', model_map: { 'claude-sonnet-5': 'vendor-large', 'claude-fast': 'vendor-small' } },
        { id: 'off', base_url: vendor.url, models: ['claude-disabled'], enabled: false },
      ],
    });
    const r = await models(url);
    expect(r.status).toBe(200);
    expect(r.body.data.map((m) => m.id).sort()).toEqual(['claude-fast', 'claude-haiku-4-5-20251001', 'claude-opus-4-8', 'claude-sonnet-5']);
    expect(r.body.data.every((m) => m.type === 'model')).toBe(true);
    expect(r.body.has_more).toBe(false);
    // The keyed endpoint was asked with its own key; the relay (which names its model) and the vendor were not asked.
    expect(keyed.requests.find((x) => x.path.startsWith('/v1/models'))!.headers['x-api-key']).toBe('sk-keyed');
    expect(relay.requests.some((x) => x.path.startsWith('/v1/models'))).toBe(false);
    // Paging, as the API does it.
    const first = await models(url, '?limit=2');
    expect(first.body.data).toHaveLength(2);
    expect(first.body.has_more).toBe(true);
    const rest = await models(url, `?limit=10&after_id=${first.body.last_id}`);
    expect([...first.body.data, ...rest.body.data].map((m) => m.id).sort()).toEqual(r.body.data.map((m) => m.id).sort());
  });

  it('answers within Claude Code\'s 3 s even when an endpoint never answers its listing', async () => {
    const stuck = await harness.sim({ name: 'stuck', behavior: { hang: true } });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'stuck', base_url: stuck.url, api_key: 'k' }, { id: 'named', base_url: stuck.url, models: ['claude-sonnet-5'] }] });
    const r = await models(url);
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(2_500);
    expect(r.body.data.map((m) => m.id)).toEqual(['claude-sonnet-5']);
  });

  it('passes through when nothing is known (a subscription user\'s key-less endpoint): the client\'s credentials answer', async () => {
    const passthrough = await harness.sim({ name: 'pt' });
    const { url } = await harness.proxy({ version: 1, endpoints: [{ id: 'pt', base_url: passthrough.url }] });
    const r = await models(url);
    expect(r.status).toBe(200);
    expect(passthrough.requests.at(-1)!.headers['x-api-key']).toBe('client');
    expect(r.body.data.map((m) => m.id)).toContain('claude-sonnet-5');
  });
});
