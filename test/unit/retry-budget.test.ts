import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/endpoints/retry-budget.js';

describe('RetryBudget', () => {
  it('allows the floor, then 20 % of recent requests, then refuses', () => {
    const b = new RetryBudget({ ratio: 0.2, floorPerSecond: 1, windowSeconds: 10 });
    const now = 100_000;
    for (let i = 0; i < 100; i++) b.recordRequest(now);
    let allowed = 0;
    while (b.tryFailover(now)) allowed++;
    expect(allowed).toBe(20 + 10);
  });

  it('forgets requests and failovers once they leave the window', () => {
    const b = new RetryBudget({ ratio: 0.2, floorPerSecond: 0, windowSeconds: 10 });
    for (let i = 0; i < 50; i++) b.recordRequest(0);
    while (b.tryFailover(0));
    expect(b.tryFailover(5_000)).toBe(false);
    expect(b.tryFailover(11_000)).toBe(false); // the old requests are gone too: nothing to spend against
    for (let i = 0; i < 10; i++) b.recordRequest(11_000);
    expect(b.tryFailover(11_000)).toBe(true);
  });
});
