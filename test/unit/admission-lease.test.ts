import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeyLease, LEASE_IDLE_MS, slotsOf, type LeasedSlot } from '../../src/cluster/admission-lease.js';

/** A refill whose answer the test gives when it wants. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('a lease of admissions for one key', () => {
  afterEach(() => vi.useRealTimers());

  it('hands out its admissions oldest first, then none', () => {
    const lease = new KeyLease('sig', () => undefined);
    lease.add(slotsOf('r/1', 2, false, 1_000, 30));
    lease.add(slotsOf('r/2', 1, true, 2_000, 40));
    const taken = [lease.take(), lease.take(), lease.take(), lease.take(), lease.take()];
    expect(taken.map((s) => s?.id)).toEqual(['r/1#1', 'r/1#2', 'r/2', 'r/2#1', undefined]);
    expect(taken[2]).toEqual({ id: 'r/2', admittedAt: 2_000, reserved: 40 });
    expect(lease.size).toBe(0);
  });

  it('a request needing more tokens reserved than the oldest admission holds gets none (it asks Redis itself)', () => {
    const lease = new KeyLease('sig', () => undefined);
    lease.add(slotsOf('r/1', 2, false, 0, 100));
    expect(lease.take(101)).toBeUndefined();
    expect(lease.size).toBe(2); // nothing consumed
    expect(lease.take(100)?.id).toBe('r/1#1');
    expect(lease.take()?.id).toBe('r/1#2');
  });

  it('asks for the next lease when a quarter of the last grant is left, never twice at once, and never near a limit', async () => {
    const lease = new KeyLease('sig', () => undefined);
    expect(lease.low()).toBe(false); // nothing granted yet: the first request asks for itself
    lease.granted = 8;
    lease.add(slotsOf('r/1', 8, false, 0, 1));
    for (let i = 0; i < 5; i++) lease.take();
    expect(lease.low()).toBe(false); // 3 left of 8
    lease.take();
    expect(lease.low()).toBe(true); // 2 left: a quarter
    const refill = deferred();
    lease.refillWith(refill.promise);
    expect(lease.low()).toBe(false); // one refill at a time
    expect(lease.pending).toBeDefined();
    const other = deferred();
    lease.refillWith(other.promise); // ignored: the first is still on its way
    refill.resolve();
    await lease.pending;
    expect(lease.pending).toBeUndefined();
    // Near a limit Redis grants nothing: requests ask for themselves and do not wait on each other's answers.
    lease.granted = 0;
    lease.refillWith(deferred().promise);
    expect(lease.pending).toBeUndefined();
    expect(lease.low()).toBe(false);
  });

  it('a refill that fails still ends (a waiting request then asks for itself)', async () => {
    const lease = new KeyLease('sig', () => undefined);
    lease.granted = 4;
    lease.refillWith(Promise.reject(new Error('Redis slow')));
    await expect(lease.pending).resolves.toBeUndefined();
    await Promise.resolve();
    expect(lease.pending).toBeUndefined();
  });

  it('gives back what is unused a second after the last refill, and everything when dropped', () => {
    vi.useFakeTimers();
    const given: LeasedSlot[][] = [];
    const lease = new KeyLease('sig', (slots) => given.push(slots));
    lease.add(slotsOf('r/1', 3, false, 0, 1));
    lease.take();
    vi.advanceTimersByTime(LEASE_IDLE_MS / 2);
    lease.add(slotsOf('r/2', 1, false, 0, 1)); // a refill: the second starts again
    vi.advanceTimersByTime(LEASE_IDLE_MS / 2 + 10);
    expect(given).toEqual([]);
    vi.advanceTimersByTime(LEASE_IDLE_MS / 2);
    expect(given.map((g) => g.map((s) => s.id))).toEqual([['r/1#2', 'r/1#3', 'r/2#1']]);
    expect(lease.take()).toBeUndefined();
    lease.add(slotsOf('r/3', 2, false, 0, 1));
    lease.drop();
    expect(given.at(-1)!.map((s) => s.id)).toEqual(['r/3#1', 'r/3#2']);
    vi.advanceTimersByTime(LEASE_IDLE_MS * 2);
    expect(given).toHaveLength(2); // dropped: its timer is gone too
  });
});
