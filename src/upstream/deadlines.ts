/**
 * The first-byte and idle clocks of every exchange in flight, kept by one timer armed for the earliest deadline.
 *
 * A Node timer per exchange costs a Timeout object and a timer-list insertion for every request, a removal when
 * the response starts, and a re-insertion on every read of a stream (`refresh()`). Here starting or moving a
 * clock is writing a number, and clocks end by being forgotten: the timer is only re-armed when a new deadline
 * is earlier than the one it waits for, which with one timeout per kind (as a proxy has) is almost never. When
 * it fires, it ends the exchanges whose time is up and re-arms itself for the earliest of the others.
 */

export interface Timed {
  /** performance.now() milliseconds by which the exchange must have moved on; Infinity when no clock runs. */
  deadline: number;
  /** Where the clock is in the running list (Deadlines' own bookkeeping; meaningless when none runs). */
  slot: number;
  /** Its clock ran out. */
  expired(now: number): void;
}

export class Deadlines {
  /**
   * The running clocks, unordered; each knows its slot, so removal moves the last one into it. Not a Set: under
   * requests with large bodies a Set's churn kept exchanges (and the bodies they hold) reachable long enough to
   * be promoted, and V8 then collected the whole heap every few hundred requests (bench/NOTES.md).
   */
  private readonly running: Timed[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires; Infinity when it is not armed. */
  private armedFor = Number.POSITIVE_INFINITY;

  /** Start (or move) `t`'s clock to `ms` from now. */
  start(t: Timed, ms: number, now = performance.now()): void {
    const deadline = now + ms;
    if (t.deadline === Number.POSITIVE_INFINITY) {
      t.slot = this.running.length;
      this.running.push(t);
    }
    t.deadline = deadline;
    if (deadline < this.armedFor) this.arm(deadline, now);
  }

  /** Move a running clock on (a stream's read): a number written, nothing else. */
  extend(t: Timed, ms: number): void {
    if (t.deadline !== Number.POSITIVE_INFINITY) t.deadline = performance.now() + ms;
  }

  stop(t: Timed): void {
    if (t.deadline === Number.POSITIVE_INFINITY) return;
    t.deadline = Number.POSITIVE_INFINITY;
    const last = this.running.pop()!;
    if (last !== t) {
      this.running[t.slot] = last;
      last.slot = t.slot;
    }
  }

  /** Clocks running now: for tests. */
  get size(): number {
    return this.running.length;
  }

  private arm(at: number, now: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    // Unreferenced: an exchange in flight holds the process open through its socket, and a timer left armed
    // after the last clock stopped must not.
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - now))).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    const due: Timed[] = [];
    for (const t of this.running) {
      if (t.deadline <= now) due.push(t);
      else if (t.deadline < next) next = t.deadline;
    }
    for (const t of due) this.stop(t);
    if (next !== Number.POSITIVE_INFINITY) this.arm(next, now);
    // Last: an expiry may start another exchange (a failover), whose clock must find the timer as it is.
    for (const t of due) t.expired(now);
  };
}
