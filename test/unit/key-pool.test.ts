import { describe, expect, it } from 'vitest';
import { KEY_REJECTED_MS, KeyPool, MAX_RATE_LIMIT_MS } from '../../src/endpoints/key-pool.js';

describe('KeyPool', () => {
  it('rotates over usable keys', () => {
    const p = new KeyPool(['k1', 'k2', 'k3']);
    expect([0, 1, 2, 3].map(() => p.pick(0)!.key)).toEqual(['k1', 'k2', 'k3', 'k1']);
  });

  it('cools a rate-limited key for its retry-after (capped), disables a rejected one for long', () => {
    const p = new KeyPool(['k1', 'k2']);
    p.report(0, 'rate-limited', 0, 20);
    expect([1, 2, 3].map(() => p.pick(1000)!.key)).toEqual(['k2', 'k2', 'k2']);
    expect(p.pick(20_000)).toBeDefined();
    p.report(1, 'rejected', 0);
    p.report(0, 'rate-limited', 0, 100_000);
    expect(p.hasUsable(MAX_RATE_LIMIT_MS - 1)).toBe(false);
    expect(p.msUntilUsable(0)).toBe(MAX_RATE_LIMIT_MS);
    expect(p.outReason(0)).toBe('rate-limited');
    expect(p.pick(MAX_RATE_LIMIT_MS)!.key).toBe('k1');
    expect(p.usableCount(KEY_REJECTED_MS)).toBe(2); // the rejected key is tried again later
  });

  it('an endpoint without keys passes the client credentials through and is never out', () => {
    const p = new KeyPool([]);
    expect(p.passThrough).toBe(true);
    expect(p.hasUsable(0)).toBe(true);
    expect(p.pick(0)).toBeUndefined();
  });

  it('a success clears the key', () => {
    const p = new KeyPool(['k1']);
    p.report(0, 'rejected', 0);
    p.clear(0);
    expect(p.hasUsable(0)).toBe(true);
  });
});
