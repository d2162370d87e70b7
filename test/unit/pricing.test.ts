import { describe, expect, it } from 'vitest';
import { PriceTable } from '../../src/stats/pricing.js';

describe('PriceTable', () => {
  const usage = { input_tokens: 1_000_000, output_tokens: 1_000_000, cache_creation_input_tokens: 1_000_000, cache_read_input_tokens: 1_000_000 };

  it('prices by family, with cache writes at 1.25× and reads at 0.1× input', () => {
    const p = new PriceTable();
    expect(p.cost('claude-sonnet-5', usage)).toBeCloseTo(3 + 15 + 3.75 + 0.3, 6);
    expect(p.cost('claude-haiku-4-5-20251001', usage)).toBeCloseTo(1 + 5 + 1.25 + 0.1, 6);
    expect(p.cost('claude-opus-4-8', usage)).toBeCloseTo(5 + 25 + 6.25 + 0.5, 6);
  });

  it('prefers the longest matching prefix, and lets the config override', () => {
    const p = new PriceTable({ 'claude-opus-4-8': { input: 1, output: 2, cache_read: 0 } });
    expect(p.priceOf('claude-opus-4-1-20250805')).toEqual({ input: 15, output: 75 });
    expect(p.cost('claude-opus-4-8', usage)).toBeCloseTo(1 + 2 + 1.25 + 0, 6);
  });

  it('charges nothing for an unknown model rather than guessing', () => {
    expect(new PriceTable().cost('vendor-model-x', usage)).toBe(0);
  });
});
