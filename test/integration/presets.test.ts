import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { Harness } from '../helpers/servers.js';
import { PRESETS, presetFields } from '../../src/config/presets.js';

/** A vendor preset in a pool with the API (issue #20, item 9): the right requests, under the right names. */

const h = new Harness();
afterEach(() => h.closeAll());

const ask = (url: string, model: string) =>
  request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }) });

describe('a preset endpoint in a mixed pool', () => {
  it("serves Claude's models under its vendor's names; requests for the vendor's own names reach it", async () => {
    // The API does not know DeepSeek's names (404), as the real one does not.
    const api = await h.sim({ name: 'api', behavior: { failModels: ['deepseek-reasoner'] } });
    const vendor = await h.sim({ name: 'deepseek' });
    const deepseek = PRESETS.find((p) => p.id === 'deepseek')!;
    const pool = (apiModels: string[]) =>
      h.proxy({
        version: 1,
        proxy: { session_affinity: false },
        // The preset as `qcc endpoint add ds --preset deepseek` writes it, its address pointed at the simulator.
        endpoints: [{ id: 'api', base_url: api.url, api_key: 'sk-api', models: apiModels }, { id: 'ds', ...presetFields(deepseek), base_url: vendor.url, api_key: 'sk-ds' }],
      });
    const { url } = await pool(['claude-*']);
    for (let i = 0; i < 6; i++) await (await ask(url, 'claude-opus-4-8')).body.text();
    const vendorModels = vendor.requests.map((r) => (JSON.parse(r.body.toString()) as { model: string }).model);
    expect(vendorModels.length).toBeGreaterThan(0); // shares Claude's traffic…
    expect(new Set(vendorModels)).toEqual(new Set(['deepseek-chat'])); // …under DeepSeek's name
    expect(api.requests.length).toBeGreaterThan(0);
    expect(api.requests.every((r) => (JSON.parse(r.body.toString()) as { model: string }).model === 'claude-opus-4-8')).toBe(true);

    const before = api.requests.length;
    for (let i = 0; i < 4; i++) {
      const res = await ask(url, 'deepseek-reasoner');
      expect(res.headers['x-qcc-endpoint']).toBe('ds');
      await res.body.text();
    }
    expect(api.requests.length).toBe(before); // with `models: ["claude-*"]` the API is never asked for a DeepSeek model

    // /v1/models lists names, never the patterns.
    const models = (await (await request(`${url}/v1/models`)).body.json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id).some((id) => id.includes('*'))).toBe(false);
  });
});
