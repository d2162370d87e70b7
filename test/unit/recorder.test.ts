import { describe, expect, it } from 'vitest';
import { attemptsJson } from '../../src/stats/recorder.js';

describe('request rows', () => {
  it('write the attempt chain exactly as JSON.stringify would', () => {
    const chains = [
      [],
      [{ endpointId: 'a', status: 200, ms: 12.345 }],
      [{ endpointId: 'q"uote\\', ms: 0.04, error: 'connect' }, { endpointId: 'b', status: 529, ms: 1000.06 }, { endpointId: 'ü', status: 200, ms: 3 }],
      [{ endpointId: 'a', ms: Number.NaN }, { endpointId: 'a', ms: Number.POSITIVE_INFINITY, error: 'x\n' }, { endpointId: 'a', ms: -0.04 }, { endpointId: 'a', ms: -2.56 }, { endpointId: 'a', ms: 3e20 }],
      // Every tenth from 0 to 10 s, and values that sit on a rounding edge.
      Array.from({ length: 100_001 }, (_, i) => ({ endpointId: 'e', status: 200, ms: i / 10 })),
      Array.from({ length: 10_000 }, (_, i) => ({ endpointId: 'e', status: 200, ms: i * 0.05 + 0.0000001 * (i % 3) })),
    ];
    for (const chain of chains) {
      const expected = JSON.stringify(chain.map((a) => ({ endpoint: a.endpointId, status: (a as { status?: number }).status ?? null, ms: Math.round(a.ms * 10) / 10, error: (a as { error?: string }).error ?? null })));
      expect(attemptsJson(chain)).toBe(expected);
    }
  });
});
