import { describe, expect, it } from 'vitest';
import { Deadlines, type Timed } from '../../src/upstream/deadlines.js';
import { eventually, sleep } from '../helpers/servers.js';
import { prng } from '../helpers/prng.js';

/** A clock's owner that notes when it expired, in ms after it was made. */
function timed(): Timed & { expiredAfter: number | undefined } {
  const born = performance.now();
  return {
    deadline: Number.POSITIVE_INFINITY,
    slot: -1,
    expiredAfter: undefined,
    expired(now: number) {
      this.expiredAfter = now - born;
    },
  };
}

describe('deadlines (one timer for every exchange clock)', () => {
  it('ends a clock when its time is up, not before', async () => {
    const clocks = new Deadlines();
    const t = timed();
    clocks.start(t, 60);
    await sleep(30);
    expect(t.expiredAfter).toBeUndefined();
    await eventually(() => t.expiredAfter !== undefined);
    expect(t.expiredAfter).toBeGreaterThanOrEqual(60);
    expect(t.deadline).toBe(Number.POSITIVE_INFINITY);
    expect(clocks.size).toBe(0);
  });

  it('never ends a stopped clock, even with the timer still armed for it', async () => {
    const clocks = new Deadlines();
    const stopped = timed();
    const running = timed();
    clocks.start(stopped, 30);
    clocks.start(running, 90);
    clocks.stop(stopped);
    await eventually(() => running.expiredAfter !== undefined);
    expect(stopped.expiredAfter).toBeUndefined();
    expect(running.expiredAfter).toBeGreaterThanOrEqual(90);
  });

  it('moves a running clock on when extended, and the timer follows it', async () => {
    const clocks = new Deadlines();
    const t = timed();
    clocks.start(t, 50);
    for (let i = 0; i < 4; i++) {
      await sleep(25);
      clocks.extend(t, 50); // a read every 25 ms keeps a 50 ms idle clock from running out
    }
    expect(t.expiredAfter).toBeUndefined();
    await eventually(() => t.expiredAfter !== undefined);
    expect(t.expiredAfter).toBeGreaterThanOrEqual(150);
  });

  it('does not start a clock by extending it', async () => {
    const clocks = new Deadlines();
    const t = timed();
    clocks.extend(t, 10);
    await sleep(30);
    expect(t.deadline).toBe(Number.POSITIVE_INFINITY);
    expect(t.expiredAfter).toBeUndefined();
  });

  it('re-arms for a deadline earlier than the one it waits for, and ends each clock at its own time', async () => {
    const clocks = new Deadlines();
    const late = timed();
    const early = timed();
    const middle = timed();
    clocks.start(late, 150);
    clocks.start(early, 30);
    clocks.start(middle, 80);
    await eventually(() => late.expiredAfter !== undefined);
    expect(early.expiredAfter).toBeGreaterThanOrEqual(30);
    expect(middle.expiredAfter).toBeGreaterThanOrEqual(80);
    expect(late.expiredAfter).toBeGreaterThanOrEqual(150);
    // Each at its own time, not all when the latest was due.
    expect(early.expiredAfter!).toBeLessThan(middle.expiredAfter!);
    expect(middle.expiredAfter!).toBeLessThan(late.expiredAfter!);
  });

  it('lets an expiry start another clock (a failover), which then runs its own course', async () => {
    const clocks = new Deadlines();
    const second = timed();
    const first: Timed = {
      deadline: Number.POSITIVE_INFINITY,
      slot: -1,
      expired: () => clocks.start(second, 40),
    };
    clocks.start(first, 20);
    await eventually(() => second.expiredAfter !== undefined);
    expect(second.expiredAfter).toBeGreaterThanOrEqual(60);
  });

  it('keeps the right clocks when many start and stop in any order', async () => {
    const clocks = new Deadlines();
    const random = prng(5);
    const all = Array.from({ length: 200 }, () => timed());
    for (const t of all) clocks.start(t, 20 + Math.floor(random() * 40));
    const stopped = new Set(all.filter(() => random() < 0.5));
    for (const t of [...stopped].sort(() => random() - 0.5)) clocks.stop(t);
    expect(clocks.size).toBe(all.length - stopped.size);
    await eventually(() => clocks.size === 0);
    for (const t of all) expect(t.expiredAfter !== undefined, `stopped: ${stopped.has(t)}`).toBe(!stopped.has(t));
  });
});
