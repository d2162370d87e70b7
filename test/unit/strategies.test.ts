import { describe, expect, it } from 'vitest';
import { STRATEGY_FACTORIES } from '../../src/balancer/index.js';
import type { EndpointView } from '../../src/balancer/types.js';
import { EXPLORATION } from '../../src/balancer/fastest.js';
import { prng } from '../helpers/prng.js'; // seeded: contract checks are statistical, but must not be flaky


const view = (id: string, over: Partial<EndpointView> = {}): EndpointView => ({
  id,
  weight: 1,
  inflight: 0,
  ttfbMs: undefined,
  priority: 0,
  available: true,
  ...over,
});

function counts(pick: () => EndpointView | undefined, n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const v = pick();
    if (v) m.set(v.id, (m.get(v.id) ?? 0) + 1);
  }
  return m;
}

describe.each(Object.entries(STRATEGY_FACTORIES))('strategy contract: %s', (_name, factory) => {
  it('handles no endpoints and no available endpoints', () => {
    const s = factory({ random: prng(1) });
    expect(s.pick([])).toBeUndefined();
    expect(s.pick([view('a', { available: false }), view('b', { available: false })])).toBeUndefined();
  });

  it('never picks an unavailable endpoint', () => {
    const s = factory({ random: prng(2) });
    const rnd = prng(3);
    for (let i = 0; i < 2000; i++) {
      const views = ['a', 'b', 'c', 'd'].map((id) =>
        view(id, { available: rnd() > 0.4, weight: 1 + Math.floor(rnd() * 5), inflight: Math.floor(rnd() * 4), ttfbMs: rnd() > 0.5 ? rnd() * 500 : undefined }),
      );
      const picked = s.pick(views);
      if (views.some((v) => v.available)) expect(picked?.available).toBe(true);
      else expect(picked).toBeUndefined();
    }
  });

  it('respects weights within 5 % over many picks (idle, unmeasured, one tier)', () => {
    const s = factory({ random: prng(4) });
    const views = [view('a', { weight: 5 }), view('b', { weight: 3 }), view('c', { weight: 2 })];
    const n = 20_000;
    const c = counts(() => s.pick(views), n);
    expect(Math.abs(c.get('a')! / n - 0.5)).toBeLessThan(0.05);
    expect(Math.abs(c.get('b')! / n - 0.3)).toBeLessThan(0.05);
    expect(Math.abs(c.get('c')! / n - 0.2)).toBeLessThan(0.05);
  });
});

describe('weighted-round-robin', () => {
  it('interleaves instead of bursting (nginx smooth WRR: 5,1,1 → a a b a c a a)', () => {
    const s = STRATEGY_FACTORIES['weighted-round-robin']({ random: Math.random });
    const views = [view('a', { weight: 5 }), view('b', { weight: 1 }), view('c', { weight: 1 })];
    const seq = Array.from({ length: 7 }, () => s.pick(views)!.id).join(' ');
    expect(seq).toBe('a a b a c a a');
  });
});

describe('least-connections', () => {
  it('picks the lowest in-flight per unit of weight', () => {
    const s = STRATEGY_FACTORIES['least-connections']({ random: prng(5) });
    expect(s.pick([view('a', { inflight: 3 }), view('b', { inflight: 1 }), view('c', { inflight: 2 })])!.id).toBe('b');
    // 4 in flight on weight 4 is lighter than 2 on weight 1
    expect(s.pick([view('a', { inflight: 4, weight: 4 }), view('b', { inflight: 2, weight: 1 })])!.id).toBe('a');
  });
});

describe('fastest', () => {
  it('mostly picks the lowest TTFB, and explores the others a little', () => {
    const s = STRATEGY_FACTORIES.fastest({ random: prng(6) });
    const views = [view('slow', { ttfbMs: 900 }), view('fast', { ttfbMs: 100 }), view('mid', { ttfbMs: 300 })];
    const n = 10_000;
    const c = counts(() => s.pick(views), n);
    expect(c.get('fast')! / n).toBeGreaterThan(1 - EXPLORATION - 0.03);
    expect((c.get('slow') ?? 0) + (c.get('mid') ?? 0)).toBeGreaterThan(n * EXPLORATION * 0.7);
  });

  it('measures an unmeasured endpoint first (a new or recovered one)', () => {
    const s = STRATEGY_FACTORIES.fastest({ random: prng(7) });
    expect(s.pick([view('known', { ttfbMs: 10 }), view('new')])!.id).toBe('new');
  });
});

describe('priority', () => {
  it('serves from the lowest tier, falls to the next only when the tier is unusable', () => {
    const s = STRATEGY_FACTORIES.priority({ random: prng(8) });
    const tiers = [view('p0a', { priority: 0 }), view('p0b', { priority: 0 }), view('p1', { priority: 1 }), view('p2', { priority: 2 })];
    const c = counts(() => s.pick(tiers), 1000);
    expect([...c.keys()].sort()).toEqual(['p0a', 'p0b']);
    const tierDown = tiers.map((v) => (v.priority === 0 ? { ...v, available: false } : v));
    expect([...counts(() => s.pick(tierDown), 200).keys()]).toEqual(['p1']);
  });
});
