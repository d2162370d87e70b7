import { describe, expect, it } from 'vitest';
import { attemptsJson } from '../../src/stats/recorder.js';

describe('request rows', () => {
  it('write the attempt chain exactly as JSON.stringify would', () => {
    const chains = [
      [],
      [{ endpointId: 'a', status: 200, ms: 12.345 }],
      [{ endpointId: 'q"uote\\', ms: 0.04, error: 'connect' }, { endpointId: 'b', status: 529, ms: 1000.06 }, { endpointId: 'ü', status: 200, ms: 3 }],
    ];
    for (const chain of chains) {
      const expected = JSON.stringify(chain.map((a) => ({ endpoint: a.endpointId, status: (a as { status?: number }).status ?? null, ms: Math.round(a.ms * 10) / 10, error: (a as { error?: string }).error ?? null })));
      expect(attemptsJson(chain)).toBe(expected);
    }
  });
});
