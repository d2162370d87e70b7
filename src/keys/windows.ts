import type { BudgetPeriod } from '../config/schema.js';

/** The sliding window of rpm and tpm limits. */
export const MINUTE_MS = 60_000;

/**
 * Times of the requests admitted in the last minute: an exact sliding-window count (no buckets, so no edge where
 * two minutes' worth fit in sixty seconds). Admission keeps it under the limit, so it holds at most `rpm` times.
 */
export class SlidingCount {
  private times: number[] = [];
  private head = 0;

  count(now: number): number {
    this.expire(now);
    return this.times.length - this.head;
  }

  add(now: number): void {
    this.times.push(now);
  }

  /** When the oldest counted request leaves the window (call after `count`). */
  nextExpiry(): number | undefined {
    const t = this.times[this.head];
    return t === undefined ? undefined : t + MINUTE_MS;
  }

  private expire(now: number): void {
    const cutoff = now - MINUTE_MS;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.head++;
    // Compact once the dead prefix is most of the array: amortised O(1) per request.
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

/** Amounts (tokens) settled in the last minute, with their running sum. */
export class SlidingSum {
  private times: number[] = [];
  private amounts: number[] = [];
  private head = 0;
  private total = 0;

  sum(now: number): number {
    const cutoff = now - MINUTE_MS;
    while (this.head < this.times.length && this.times[this.head]! <= cutoff) this.total -= this.amounts[this.head++]!;
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.amounts = this.amounts.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.times.length) this.total = 0; // no drift from float sums once empty
    return this.total;
  }

  add(now: number, amount: number): void {
    // Usage comes from the endpoint's answer (untrusted): a NaN or infinite count must not disable the limit.
    if (!(amount > 0 && Number.isFinite(amount))) return;
    // Settlements arrive in time order, except rows rebuilt from the log: kept sorted so expiry stays a prefix.
    let i = this.times.length;
    while (i > this.head && this.times[i - 1]! > now) i--;
    this.times.splice(i, 0, now);
    this.amounts.splice(i, 0, amount);
    this.total += amount;
  }

  /** When the sum (now `sum(now)`) drops below `target` as settled amounts leave the window; undefined if never. */
  dropsBelowAt(target: number): number | undefined {
    let rest = this.total;
    for (let i = this.head; i < this.times.length; i++) {
      rest -= this.amounts[i]!;
      if (rest < target) return this.times[i]! + MINUTE_MS;
    }
    return undefined;
  }
}

/** The calendar window (UTC) holding `now`: a day, an ISO week from Monday, or a month. */
export function budgetWindow(per: BudgetPeriod, now: number): { start: number; end: number } {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (per) {
    case 'day':
      return { start: Date.UTC(y, m, day), end: Date.UTC(y, m, day + 1) };
    case 'week': {
      const sinceMonday = (d.getUTCDay() + 6) % 7;
      return { start: Date.UTC(y, m, day - sinceMonday), end: Date.UTC(y, m, day - sinceMonday + 7) };
    }
    case 'month':
      return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  }
}
