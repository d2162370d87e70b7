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

describe('RetryBudget: hedges', () => {
  it('allow max_ratio of the last minute plus three a minute, and count against the failover budget too', () => {
    const b = new RetryBudget({ ratio: 0.2, floorPerSecond: 10, windowSeconds: 10 });
    const now = 1_000_000;
    for (let i = 0; i < 200; i++) b.recordRequest(now);
    let hedges = 0;
    while (b.tryHedge(now, 0.05)) hedges++;
    expect(hedges).toBe(10 + 3);
    // The hedges spent from the shared budget: 40 + 100 - 13 failovers remain.
    let failovers = 0;
    while (b.tryFailover(now)) failovers++;
    expect(failovers).toBe(0.2 * 200 + 100 - 13);
  });

  it('a single user, whose share rounds to nothing, still gets the floor; the minute then forgets them', () => {
    const b = new RetryBudget();
    b.recordRequest(0);
    expect([b.tryHedge(0, 0.05), b.tryHedge(1_000, 0.05), b.tryHedge(2_000, 0.05), b.tryHedge(3_000, 0.05)]).toEqual([true, true, true, false]);
    expect(b.tryHedge(59_000, 0.05)).toBe(false);
    expect(b.tryHedge(61_000, 0.05)).toBe(true); // the first hedge's second has left the minute
  });

  it('refuses a hedge when failovers already spent the shared budget', () => {
    const b = new RetryBudget({ ratio: 0, floorPerSecond: 0.1, windowSeconds: 10 });
    expect(b.tryFailover(0)).toBe(true);
    expect(b.tryHedge(0, 1)).toBe(false);
  });
});
