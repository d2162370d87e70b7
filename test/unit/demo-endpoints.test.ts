import { describe, expect, it } from 'vitest';
import { configSchema, endpointSchema } from '../../src/config/schema.js';
import { DemoEndpoints } from '../../src/demo-endpoints.js';

const sim = (id: string) => endpointSchema.parse({ id, base_url: 'http://127.0.0.1:1', simulated: true });
const real = endpointSchema.parse({ id: 'mine', base_url: 'https://api.example' });
const empty = configSchema.parse({ version: 1 });

describe('DemoEndpoints', () => {
  it('serves the simulated endpoints while the saved config has none, and never saves them', () => {
    const demo = new DemoEndpoints([sim('demo-a'), sim('demo-b')]);
    expect(demo.serve(empty)).toEqual({ config: { ...empty, endpoints: [sim('demo-a'), sim('demo-b')] }, replaced: false });
    // The dashboard deletes demo-a: nothing to save, demo-b goes on.
    const saved = demo.toSave({ ...empty, endpoints: [sim('demo-b')] });
    expect(saved.endpoints).toEqual([]);
    expect(demo.serve(saved).config.endpoints.map((e) => e.id)).toEqual(['demo-b']);
  });

  it('the first real endpoint replaces them for good', () => {
    const demo = new DemoEndpoints([sim('demo-a')]);
    const saved = demo.toSave({ ...empty, endpoints: [sim('demo-a'), real] });
    expect(saved.endpoints).toEqual([real]);
    expect(demo.serve(saved)).toEqual({ config: saved, replaced: true });
    // Deleting the real one later leaves no endpoint: the simulated ones do not come back.
    expect(demo.serve(empty)).toEqual({ config: empty, replaced: false });
  });

  it('without a demo, configs pass through untouched', () => {
    const demo = new DemoEndpoints([]);
    const c = { ...empty, endpoints: [real] };
    expect(demo.toSave(c)).toBe(c);
    expect(demo.serve(empty)).toEqual({ config: empty, replaced: false });
  });
});
