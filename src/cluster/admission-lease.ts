/**
 * Admissions leased from Redis for one client key (shared-limiter.ts): each is already counted in the shared
 * windows (its place in the minute, its token reservation), so this replica's next requests use them without a
 * round trip.
 *
 * Two rules keep a busy key to about one round trip per lease, however many requests run at once:
 * - one refill at a time: a request that finds the lease empty while a refill is on its way waits for that refill
 *   rather than asking Redis itself (each of eight concurrent requests asking would lease eight times, and every
 *   lease but the last would be given back);
 * - refill ahead: when a lease runs low, the next one is asked for in the background, so in a steady stream no
 *   request waits for Redis at all.
 * Unused admissions are given back LEASE_IDLE_MS after the last refill: a lease must not hold room in the shared
 * minute that other replicas could use.
 */

/** One leased admission. */
export interface LeasedSlot {
  readonly id: string;
  /** When Redis counted it (its clock): where it sits in the minute. */
  readonly admittedAt: number;
  /** The tpm reservation Redis holds for it (the one the request that leased it asked for). */
  readonly reserved: number;
}

/** The admissions one ADMIT granted: `id#1`…`id#count`, and `id` itself when no request asked for it (a refill ahead). */
export function slotsOf(id: string, count: number, withOwn: boolean, admittedAt: number, reserved: number): LeasedSlot[] {
  const slots: LeasedSlot[] = withOwn ? [{ id, admittedAt, reserved }] : [];
  for (let i = 1; i <= count; i++) slots.push({ id: `${id}#${i}`, admittedAt, reserved });
  return slots;
}

/** How long unused admissions are kept after the last refill before they are given back. */
export const LEASE_IDLE_MS = 1_000;

export class KeyLease {
  private slots: LeasedSlot[] = [];
  private head = 0;
  /** The refill on its way, if any: requests finding no slot wait for it. */
  private refilling: Promise<void> | undefined;
  /** What the last refill granted beyond its own admission; 0 near a limit, -1 before the first. */
  granted = -1;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    /** The key's limits when leased: a change of limits gives the lease back. */
    readonly signature: string,
    /** Told of admissions to give back (unused when the lease went idle, or when it was dropped). */
    private readonly giveBack: (slots: LeasedSlot[]) => void,
  ) {}

  get size(): number {
    return this.slots.length - this.head;
  }

  /**
   * The oldest unused admission, if any (oldest first: they were counted earliest in the minute) that reserved at
   * least `reservation` tokens: a bigger request asks Redis for itself, so a lease never under-reserves the minute.
   */
  take(reservation = 0): LeasedSlot | undefined {
    if (this.head >= this.slots.length || this.slots[this.head]!.reserved < reservation) return undefined;
    const slot = this.slots[this.head++]!;
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    }
    return slot;
  }

  /** Should the next lease be asked for now? When this one runs low (a quarter of the last grant left). */
  low(): boolean {
    return this.refilling === undefined && this.granted > 0 && this.size <= this.granted >> 2;
  }

  /**
   * The refill on its way, for a request that found no slot to wait for (rather than ask Redis itself); none near a
   * limit, where refills grant nothing and every request asks for itself (waiting would only delay it).
   */
  get pending(): Promise<void> | undefined {
    return this.granted === 0 ? undefined : this.refilling;
  }

  /** `answered` refills this lease unless a refill is already on its way (its slots added by the time it settles). */
  refillWith(answered: Promise<unknown>): void {
    if (this.refilling !== undefined) return;
    const done = answered.then(
      () => undefined,
      () => undefined,
    );
    this.refilling = done;
    void done.then(() => {
      if (this.refilling === done) this.refilling = undefined;
    });
  }

  /** Admissions Redis granted (slotsOf), used after those already here. */
  add(slots: LeasedSlot[]): void {
    if (slots.length === 0) return;
    for (const slot of slots) this.slots.push(slot);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.idle(), LEASE_IDLE_MS);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
  }

  /** Give back every unused admission (the lease is being replaced, or qcc is stopping). */
  drop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.idle();
  }

  private idle(): void {
    this.timer = undefined;
    const unused = this.slots.slice(this.head);
    this.slots = [];
    this.head = 0;
    if (unused.length > 0) this.giveBack(unused);
  }
}
