import { describe, expect, it } from 'vitest';
import { MIN_FACTOR, SLOW_START_MS, weightFactor, type WeightInputs } from '../../src/endpoints/weight.js';

const base: WeightInputs = { successEwma: 1, ttfbEwmaMs: 100, bestTtfbMs: 100, healthScore: undefined, slowStartSince: undefined, now: 0 };

describe('effective weight factor', () => {
  it('is 1 for the fastest, fully successful endpoint', () => {
    expect(weightFactor(base)).toBe(1);
  });

  it('shrinks with failures and with latency, but stays bounded', () => {
    const flaky = weightFactor({ ...base, successEwma: 0.5 });
    const slow = weightFactor({ ...base, ttfbEwmaMs: 400 });
    const awful = weightFactor({ ...base, successEwma: 0, ttfbEwmaMs: 100_000, healthScore: 0 });
    expect(flaky).toBeLessThan(0.5);
    expect(slow).toBeCloseTo(0.5, 5);
    expect(awful).toBeGreaterThanOrEqual(MIN_FACTOR);
    expect(weightFactor({ ...base, successEwma: 0.9 })).toBeGreaterThan(flaky);
  });

  it('orders by health score when one exists', () => {
    expect(weightFactor({ ...base, healthScore: 90 })).toBeGreaterThan(weightFactor({ ...base, healthScore: 40 }));
  });

  it('ramps a recovered endpoint up linearly over the slow-start period', () => {
    const at = (ms: number) => weightFactor({ ...base, slowStartSince: 0, now: ms });
    expect(at(0)).toBeCloseTo(0.1, 5);
    expect(at(SLOW_START_MS / 2)).toBeCloseTo(0.55, 5);
    expect(at(SLOW_START_MS)).toBe(1);
  });
});
