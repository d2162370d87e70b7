import { describe, expect, it } from 'vitest';
import { COLD_HEDGE_MS, hedgeDelayMs, LatencyByModel, LatencyWindow, MIN_SAMPLES } from '../../src/endpoints/first-content.js';
import { hedgeSchema } from '../../src/config/schema.js';

const auto = hedgeSchema.parse({ min_ms: 500, max_ms: 10_000 });

function windowOf(values: number[]): LatencyWindow {
  const w = new LatencyWindow();
  for (const v of values) w.push(v);
  return w;
}

describe('LatencyWindow', () => {
  it('says nothing with too few samples, then gives the nearest-rank p95', () => {
    expect(windowOf(Array.from({ length: MIN_SAMPLES - 1 }, () => 100)).quantile()).toBeUndefined();
    const w = windowOf(Array.from({ length: 100 }, (_, i) => i + 1)); // 1..100
    expect(w.quantile()).toBe(95);
    expect(w.quantile(0.5)).toBe(50);
  });

  it('keeps the last 128 samples: an endpoint that got slower is judged by its recent answers', () => {
    const w = windowOf([...Array.from({ length: 200 }, () => 100), ...Array.from({ length: 128 }, () => 3_000)]);
    expect(w.size).toBe(128);
    expect(w.quantile()).toBe(3_000);
  });

  it('ignores values that are not durations', () => {
    const w = windowOf([Number.NaN, -1, Number.POSITIVE_INFINITY]);
    expect(w.size).toBe(0);
  });
});

describe('hedgeDelayMs', () => {
  const fast = windowOf(Array.from({ length: 50 }, () => 40));
  const slow = windowOf(Array.from({ length: 50 }, (_, i) => 1_000 + i * 100)); // p95 = 5 700

  it('uses the endpoint’s own p95, within min_ms and max_ms', () => {
    expect(hedgeDelayMs(auto, slow, undefined)).toBe(5_700);
    expect(hedgeDelayMs(auto, fast, undefined)).toBe(500);
    expect(hedgeDelayMs({ ...auto, max_ms: 3_000 }, slow, undefined)).toBe(3_000);
  });

  it('falls back to the pool’s figure for the model, then to the cold default', () => {
    expect(hedgeDelayMs(auto, windowOf([1, 2, 3]), slow)).toBe(5_700);
    expect(hedgeDelayMs(auto, undefined, undefined)).toBe(COLD_HEDGE_MS);
  });

  it('a fixed after_ms is used as it is', () => {
    expect(hedgeDelayMs({ ...auto, after_ms: 1_234 }, slow, slow)).toBe(1_234);
  });
});

describe('LatencyByModel', () => {
  it('keeps a bounded number of models', () => {
    const m = new LatencyByModel();
    for (let i = 0; i < 100; i++) m.push(`model-${i}`, 10);
    expect(m.get('model-0')).toBeUndefined();
    expect(m.get('model-99')?.size).toBe(1);
  });
});
