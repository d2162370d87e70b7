import { describe, expect, it } from 'vitest';
import { attemptsColumn, attemptsJson } from '../../src/stats/recorder.js';
import { attemptChain } from '../../src/stats/query.js';
import type { AttemptRecord, RequestRecord } from '../../src/proxy/events.js';

describe('request rows', () => {
  it('write the attempt chain exactly as JSON.stringify would', () => {
    const chains = [
      [],
      [{ endpointId: 'a', status: 200, ms: 12.345 }],
      [{ endpointId: 'q"uote\\', ms: 0.04, error: 'connect' }, { endpointId: 'b', status: 529, ms: 1000.06 }, { endpointId: 'ü', status: 200, ms: 3 }],
      [{ endpointId: 'p', ms: 2, error: 'connect', message: 'could not reach proxy http://u:***@h:1: "refused"\n' }, { endpointId: 'b', status: 200, ms: 3 }],
      [{ endpointId: 'a', ms: Number.NaN }, { endpointId: 'a', ms: Number.POSITIVE_INFINITY, error: 'x\n' }, { endpointId: 'a', ms: -0.04 }, { endpointId: 'a', ms: -2.56 }, { endpointId: 'a', ms: 3e20 }],
      // Every tenth from 0 to 10 s, and values that sit on a rounding edge.
      Array.from({ length: 100_001 }, (_, i) => ({ endpointId: 'e', status: 200, ms: i / 10 })),
      Array.from({ length: 10_000 }, (_, i) => ({ endpointId: 'e', status: 200, ms: i * 0.05 + 0.0000001 * (i % 3) })),
    ];
    for (const chain of chains) {
      const expected = JSON.stringify(chain.map((a) => ({ endpoint: a.endpointId, status: (a as { status?: number }).status ?? null, ms: Math.round(a.ms * 10) / 10, error: (a as { error?: string }).error ?? null, message: (a as { message?: string }).message })));
      expect(attemptsJson(chain)).toBe(expected);
    }
  });

  it('store one clean attempt as its ms, and read every chain back as the full form would give it', () => {
    const record = (status: number, endpointId: string | undefined, attempts: AttemptRecord[]) => ({ status, endpointId, attempts }) as RequestRecord;
    const cases: [RequestRecord, boolean][] = [
      [record(200, 'a', [{ endpointId: 'a', status: 200, ms: 12.345 }]), true],
      [record(200, 'a', [{ endpointId: 'a', status: 200, ms: 0 }]), true],
      // Anything the row does not already say keeps the whole chain:
      [record(200, 'b', [{ endpointId: 'a', ms: 3, error: 'connect' }, { endpointId: 'b', status: 200, ms: 4 }]), false],
      [record(529, 'a', [{ endpointId: 'a', status: 529, ms: 5, error: 'overloaded' }]), false],
      [record(0, 'a', [{ endpointId: 'a', ms: 5, error: 'client-abort' }]), false],
      [record(502, undefined, [{ endpointId: 'a', ms: 2, error: 'connect' }]), false],
      [record(400, 'a', [{ endpointId: 'a', status: 404, ms: 1 }]), false],
      [record(200, 'b', [{ endpointId: 'a', status: 200, ms: 1 }]), false],
      [record(502, undefined, []), false],
      [record(200, 'a', [{ endpointId: 'a', status: 200, ms: Number.NaN }]), false],
    ];
    for (const [r, compact] of cases) {
      const column = attemptsColumn(r);
      expect(column.startsWith('[')).toBe(!compact);
      const row = { attempts: column, endpoint_id: r.endpointId ?? null, status: r.status };
      expect(attemptChain(row)).toEqual(JSON.parse(attemptsJson(r.attempts)));
    }
  });
});
