import { describe, expect, it } from 'vitest';
import { ClientSeat } from '../../src/protocols/seat.js';

describe('ClientSeat', () => {
  it('gives the client to the first attempt that claims it and cancels the other at that moment', () => {
    const claims: number[] = [];
    const seat = new ClientSeat((n) => claims.push(n));
    const cancelled: number[] = [];
    const a = seat.for(1);
    const b = seat.for(2);
    a.bind(() => cancelled.push(1));
    b.bind(() => cancelled.push(2));
    expect(b.claim()).toBe(true);
    expect(cancelled).toEqual([1]);
    expect(a.claim()).toBe(false);
    expect(b.claim()).toBe(true);
    expect(claims).toEqual([2]);
    expect(seat.winner).toBe(2);
  });

  it('an attempt that starts after the seat is taken is cancelled at once', () => {
    const seat = new ClientSeat(() => undefined);
    seat.for(1).claim();
    let cancelled = false;
    seat.for(2).bind(() => (cancelled = true));
    expect(cancelled).toBe(true);
  });

  it('cancelAll stops every attempt still waiting', () => {
    const seat = new ClientSeat(() => undefined);
    const cancelled: number[] = [];
    seat.for(1).bind(() => cancelled.push(1));
    seat.for(2).bind(() => cancelled.push(2));
    seat.cancelAll();
    expect(cancelled).toEqual([1, 2]);
  });
});
