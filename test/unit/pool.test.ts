import { describe, expect, it } from 'vitest';
import { configSchema, type Config } from '../../src/config/schema.js';
import { EndpointPool } from '../../src/endpoints/pool.js';

function config(endpoints: Record<string, unknown>[]): Config {
  return configSchema.parse({ version: 1, proxy: { strategy: 'priority', session_affinity: false }, endpoints });
}

/** Every endpoint a plan would try, in order, until it runs out. */
function planned(pool: EndpointPool, model: string | undefined): string[] {
  const next = pool.plan(model, undefined);
  const ids: string[] = [];
  for (let p = next(); p; p = next()) ids.push(p.endpoint.id);
  return ids;
}

describe('endpoint pool plans', () => {
  const base = [
    { id: 'a', base_url: 'http://127.0.0.1:1', priority: 1, models: ['m1'] },
    { id: 'b', base_url: 'http://127.0.0.1:2', priority: 2 },
    { id: 'c', base_url: 'http://127.0.0.1:3', priority: 3, models: ['m2'] },
  ];

  it('offers each endpoint that serves the model once, and none that does not', () => {
    const pool = new EndpointPool(config(base), { now: () => 0, random: () => 0.5 });
    expect(planned(pool, 'm1')).toEqual(['a', 'b']);
    expect(planned(pool, 'm2')).toEqual(['b', 'c']);
    expect(planned(pool, 'other')).toEqual(['b']);
    expect(planned(pool, undefined)).toEqual(['a', 'b', 'c']);
    expect(planned(pool, 'm1')).toEqual(['a', 'b']); // asked again: the same answer
  });

  it('follows a config change: a disabled endpoint, a changed model list, a new endpoint', () => {
    const pool = new EndpointPool(config(base), { now: () => 0, random: () => 0.5 });
    expect(planned(pool, 'm1')).toEqual(['a', 'b']);
    expect(planned(pool, 'm2')).toEqual(['b', 'c']);
    const [a, b, c] = base;
    pool.update(config([{ ...a, enabled: false }, { ...b, models: ['m2'] }, { ...c }, { id: 'd', base_url: 'http://127.0.0.1:4', priority: 4 }]));
    expect(planned(pool, 'm1')).toEqual(['d']);
    expect(planned(pool, 'm2')).toEqual(['b', 'c', 'd']);
  });

  it('keeps answering correctly past the number of models it remembers', () => {
    const pool = new EndpointPool(config(base), { now: () => 0, random: () => 0.5 });
    for (let i = 0; i < 1_000; i++) expect(planned(pool, `client-model-${i}`)).toEqual(['b']);
    expect(planned(pool, 'm1')).toEqual(['a', 'b']);
  });
});

describe('after a broken stream', () => {
  const endpoints = [
    { id: 'a', base_url: 'http://127.0.0.1:1', priority: 1 },
    { id: 'b', base_url: 'http://127.0.0.1:2', priority: 2 },
  ];
  const withAffinity = configSchema.parse({ version: 1, proxy: { strategy: 'priority' }, endpoints });

  it("the session's next request avoids the endpoint once, then routing is as before", () => {
    let now = 0;
    const pool = new EndpointPool(withAffinity, { now: () => now, random: () => 0.5 });
    pool.affinity.set('s', 'a');
    pool.affinity.avoidNext('s', 'a', now);
    const next = pool.plan(undefined, 's');
    // Not first; still a failover candidate should the other fail.
    expect([next()?.endpoint.id, next()?.endpoint.id, next()]).toEqual(['b', 'a', undefined]);
    expect(pool.plan(undefined, 's')()?.endpoint.id).toBe('a'); // consumed: priority decides again
    pool.affinity.avoidNext('s', 'a', now);
    now = 10 * 60_000; // long after: the mark has lapsed
    expect(pool.plan(undefined, 's')()?.endpoint.id).toBe('a');
  });

  it('the avoided endpoint still serves when nothing else can', () => {
    const pool = new EndpointPool(withAffinity, { now: () => 0, random: () => 0.5 });
    pool.update(configSchema.parse({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoints[0], { ...endpoints[1], enabled: false }] }));
    pool.affinity.avoidNext('s', 'a', 0);
    expect(pool.plan(undefined, 's')()?.endpoint.id).toBe('a');
  });
});
