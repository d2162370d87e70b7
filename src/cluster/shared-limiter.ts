import type { ClientKeyConfig } from '../config/schema.js';
import { budgetWindow } from '../keys/windows.js';
import {
  budgetRefusal,
  reservationFor,
  rpmRefusal,
  tpmRefusal,
  type KeyAdmission,
  type KeyLimiter,
  type Refusal,
  type RequestFacts,
  type Ticket,
} from '../keys/limiter.js';
import type { Logger } from '../log.js';
import type { RedisLink } from './redis-link.js';
import { ADMIT } from './limit-scripts.js';
import { LimitJournal } from './limit-journal.js';
import { KeyLease, slotsOf, type LeasedSlot } from './admission-lease.js';

/**
 * Client keys' limits kept in Redis, so N replicas enforce one limit exactly: each admission is one script (one
 * round trip) that reads the key's windows and counts the request in the same atomic step — no two replicas can
 * both take the last request of a minute. The windows are those of keys/limiter.ts: an exact sliding log of
 * requests, tokens settled in the last minute plus what requests in flight reserved, and spend per UTC day.
 * Times are Redis's own clock (`TIME`), so replicas on machines whose clocks differ still share one minute.
 *
 * A reservation carries an expiry: a replica that dies with requests in flight cannot hold a key's tokens forever.
 *
 * A round trip per request would cost 60–100 µs of CPU, as much as the rest of a request's work in qcc
 * (bench/NOTES.md, rounds 13–14), so a busy key's admission also leases admissions for this replica's next requests (admission-lease.ts),
 * counted in Redis like itself and never more than a small share of the room left, none near a limit, where every
 * admission asks and the limit holds exactly. Settlements travel in batches (limit-journal.ts).
 *
 * When Redis is away or slower than `state.timeout_ms`, the replica decides alone with its own limiter (whose
 * windows it kept warm with every shared admission): limits are then per replica, which status and
 * `qcc_limits_shared` say. What it admitted meanwhile is written to Redis when it returns, so a budget loses
 * nothing.
 */

interface SharedTicket extends Ticket {
  /** Admitted by Redis (its reservation is there), or alone during an outage (journaled for the merge). */
  readonly shared: boolean;
  readonly id: string;
  readonly admittedAt: number;
  /** Its key has a tpm limit: its tokens go into the shared minute. */
  readonly tpm: boolean;
  /** What Redis holds reserved for it (a leased admission's was reserved with the request that leased it). */
  readonly redisReserved: number;
}

/** The most a lease asks for. */
const LEASE_MAX = 64;

/**
 * After Redis failed to answer an admission in time, admissions are decided alone this long before Redis is asked
 * again: a Redis that hangs (its connection still open, so not "down") must not cost every request the deadline.
 */
const SLOW_BACKOFF_MS = 1_000;

/** A key's limits as a string: a lease is only used under the limits it was granted for. Kept per config object. */
const signatures = new WeakMap<ClientKeyConfig, string>();
function limitsSignature(key: ClientKeyConfig): string {
  let s = signatures.get(key);
  if (s === undefined) {
    s = `${key.rpm ?? ''}|${key.tpm ?? ''}|${key.budget?.usd ?? ''}|${key.budget?.per ?? ''}`;
    signatures.set(key, s);
  }
  return s;
}

export class SharedLimiter implements KeyAdmission {
  private counter = 0;
  /** Admissions leased per key (admission-lease.ts), and each key's admissions in this second and the last. */
  private readonly leases = new Map<string, KeyLease>();
  private readonly rates = new Map<string, { second: number; current: number; previous: number }>();
  /** Replicas of the deployment alive (cluster.ts counts them): a lease takes at most 1/(2 × this) of the room. */
  replicas = 1;
  /** Redis was too slow to answer: admissions are decided alone until then (SLOW_BACKOFF_MS). */
  private aloneUntil = 0;
  /**
   * Admissions that asked Redis and those taken from a lease without asking; leases asked for ahead, and leased
   * admissions given back unused (for tests and the bench's notes).
   */
  readonly admissions = { asked: 0, leased: 0, refills: 0, givenBack: 0 };

  /** Settlements on their way, and what was admitted alone while Redis was away (limit-journal.ts). */
  private readonly journal: LimitJournal;

  constructor(
    private readonly link: RedisLink,
    readonly local: KeyLimiter,
    private readonly logger: Logger,
  ) {
    this.journal = new LimitJournal(link, logger);
  }

  admit(key: ClientKeyConfig, facts: RequestFacts, now: number): Ticket | Refusal | Promise<Ticket | Refusal> {
    const outside = this.local.outsideModels(key, facts);
    if (outside !== undefined) return outside;
    if (!facts.messages || (key.rpm === undefined && key.tpm === undefined && key.budget === undefined)) {
      // Nothing shared to decide: counted here only (views), as a lone qcc does.
      return facts.messages ? this.local.admit(key, facts, now) : { name: key.name, counted: false, reserved: 0, settled: false };
    }
    if (!this.sharedNow(now)) return this.alone(key, facts, now);
    const reservation = reservationFor(facts);
    const want = this.wanted(key.name, now);
    const lease = this.leaseFor(key);
    // From a lease: decided here and now, no promise (the handler then does not wait a tick).
    const leased = this.fromLease(lease, key, reservation, now, want);
    if (leased !== undefined) return leased;
    // Waiting for a refill helps a request that found the lease empty, not one bigger than its slots.
    const pending = lease.size === 0 ? lease.pending : undefined;
    if (pending !== undefined) {
      // A refill is on its way: wait for it rather than lease again; if it brought too few, ask, within what is left
      // of the request's time for Redis (state.timeout_ms in all, then it is decided alone).
      const started = Date.now();
      return pending.then(() => {
        const at = Date.now();
        const left = this.link.settings.timeoutMs - (at - started);
        return this.fromLease(lease, key, reservation, at, want) ?? (left > 0 ? this.shared(key, facts, at, reservation, want, lease, left) : this.alone(key, facts, at));
      });
    }
    return this.shared(key, facts, now, reservation, want, lease, this.link.settings.timeoutMs);
  }

  settle(ticket: Ticket, tokens: number, usd: number, now: number): void {
    if (ticket.settled) return;
    this.local.settle(ticket, tokens, usd, now);
    const t = ticket as Partial<SharedTicket>;
    if (t.id === undefined) return;
    if (t.shared) {
      // Off the request path, and not a round trip of its own: it goes with the next admission (or within 50 ms).
      this.journal.queueSettle({ name: ticket.name, id: t.id, admittedAt: t.admittedAt!, reserved: t.redisReserved ?? ticket.reserved, tpm: t.tpm === true, settled: { tokens, usd, at: now } });
      return;
    }
    this.journal.settledAlone(t.id, tokens, usd, now);
  }

  /** Are admissions decided in Redis now (reachable, and not backing off after it was too slow)? */
  sharedNow(now = Date.now()): boolean {
    return this.link.up && now >= this.aloneUntil;
  }

  /** Redis did not answer an admission in time: decide alone for a while (what is admitted meanwhile is merged). */
  private tooSlow(e: unknown): void {
    const now = Date.now();
    if (now >= this.aloneUntil) this.logger.warn({ err: e, for_ms: SLOW_BACKOFF_MS }, 'client keys: Redis did not answer in time; limits are enforced by this replica alone for now');
    this.aloneUntil = now + SLOW_BACKOFF_MS;
  }

  /** Admissions made alone still waiting to be written to Redis (those being written included). */
  get pending(): number {
    return this.journal.pending;
  }

  /** Redis is back: what this replica admitted alone is counted in the shared windows and budgets. */
  merge(now = Date.now()): Promise<number> {
    return this.journal.merge(now);
  }

  /** This replica's lease for the key under its current limits (a lease granted under other limits is given back). */
  private leaseFor(key: ClientKeyConfig): KeyLease {
    const signature = limitsSignature(key);
    let lease = this.leases.get(key.name);
    if (lease?.signature !== signature) {
      lease?.drop();
      lease = new KeyLease(signature, (slots) => this.giveBack(key.name, slots));
      this.leases.set(key.name, lease);
    }
    return lease;
  }

  /** An admission from the key's lease, if it holds one (no round trip); a lease running low is refilled ahead. */
  private fromLease(lease: KeyLease, key: ClientKeyConfig, reservation: number, now: number, want: number): SharedTicket | undefined {
    const tpm = key.tpm !== undefined;
    // Reservations matter only under a tpm limit: a slot that reserved less than this request needs is not used.
    const slot = lease.take(tpm ? reservation : 0);
    if (slot === undefined) return undefined;
    this.admissions.leased++;
    // The next lease reserves for the larger of its last slot's need and this request's.
    if (want > 1 && lease.low()) this.refillAhead(key, lease, Math.max(slot.reserved, reservation), want);
    this.local.admitted(key.name, reservation, now);
    // Written out, not spread from the local ticket: a spread object is slow to make and to read (bench/NOTES.md).
    return { name: key.name, counted: true, reserved: reservation, settled: false, shared: true, id: slot.id, admittedAt: slot.admittedAt, tpm, redisReserved: slot.reserved };
  }

  /**
   * The next lease, asked for in the background before this one runs out, so a steady stream never waits for Redis.
   * Its own admission is leased too (no request asked for it).
   */
  private refillAhead(key: ClientKeyConfig, lease: KeyLease, reservation: number, want: number): void {
    this.admissions.refills++;
    const id = this.nextId();
    const answered = this.ask(key, id, reservation, want, Date.now()).then((r) => {
      if (r[0] !== 'ok') {
        lease.granted = 0;
        return;
      }
      const granted = Number(r[2]) || 0;
      const admittedAt = Number(r[1]) || Date.now();
      lease.granted = granted;
      const slots = slotsOf(id, granted, true, admittedAt, reservation);
      if (this.leases.get(key.name) === lease) lease.add(slots);
      else this.giveBack(key.name, slots);
    });
    // A refill that failed (Redis slow or away) costs no request anything; the next ones decide alone for a while.
    answered.catch((e: unknown) => this.tooSlow(e));
    lease.refillWith(answered);
  }

  /** How many admissions to lease for a key: about what this replica admitted for it in the last second. */
  private wanted(name: string, now: number): number {
    const second = Math.floor(now / 1000);
    let rate = this.rates.get(name);
    if (rate === undefined || rate.second < second - 1) {
      rate = { second, current: 0, previous: 0 };
      this.rates.set(name, rate);
    } else if (rate.second < second) {
      rate.previous = rate.current;
      rate.current = 0;
      rate.second = second;
    }
    rate.current++;
    return Math.min(LEASE_MAX, Math.max(rate.previous, rate.current - 1));
  }

  /** Give leased admissions back unused (their places in the minute and their reservations). */
  private giveBack(name: string, slots: LeasedSlot[]): void {
    const at = Date.now();
    this.admissions.givenBack += slots.length;
    for (const slot of slots) {
      this.journal.queueSettle({ name, id: slot.id, admittedAt: slot.admittedAt, reserved: slot.reserved, tpm: true, release: true, settled: { tokens: 0, usd: 0, at } });
    }
  }

  /** ADMIT for `id`, with `want` more admissions as a lease; the answer as strings. Settlements go in the same write. */
  private async ask(key: ClientKeyConfig, id: string, reservation: number, want: number, now: number, timeoutMs = this.link.settings.timeoutMs): Promise<string[]> {
    const window = key.budget ? budgetWindow(key.budget.per, now) : undefined;
    const k = this.keys(key.name);
    // Settlements first, in the same write: this admission then sees the tokens and spend they report.
    this.journal.flushSettles();
    const reply = await this.link.script(
      ADMIT,
      [k.requests, k.tokens, k.reservations, k.spend, k.sums],
      [
        id, String(key.rpm ?? -1), String(key.tpm ?? -1), String(reservation), String(key.budget?.usd ?? -1), String(window?.start ?? -1), String(window?.end ?? -1),
        String(want), String(2 * Math.max(1, this.replicas)),
      ],
      timeoutMs,
    );
    return Array.isArray(reply) ? reply.map(String) : [];
  }

  /** Ask Redis for this request's admission (and, when the key is busy, a lease that later requests use). */
  private async shared(key: ClientKeyConfig, facts: RequestFacts, now: number, reservation: number, want: number, lease: KeyLease, timeoutMs: number): Promise<Ticket | Refusal> {
    this.admissions.asked++;
    const id = this.nextId();
    const asking = this.ask(key, id, reservation, want, now, timeoutMs);
    // The lease's refill, if none is on its way: requests finding no slot meanwhile wait for this answer.
    if (want > 0) lease.refillWith(asking);
    let r: string[];
    try {
      r = await asking;
    } catch (e: unknown) {
      this.tooSlow(e);
      // Redis may have run the script and lost only its answer: the same id makes the merge count it once.
      return this.alone(key, facts, now, id);
    }
    const at = Number(r[1]);
    if (r[0] === 'ok') {
      const admittedAt = Number.isFinite(at) ? at : now;
      if (want > 0) {
        const granted = Number(r[2]) || 0;
        lease.granted = granted;
        const slots = slotsOf(id, granted, false, admittedAt, reservation);
        if (this.leases.get(key.name) === lease) lease.add(slots);
        else this.giveBack(key.name, slots);
      }
      this.local.admitted(key.name, reservation, now);
      const shared: SharedTicket = { name: key.name, counted: true, reserved: reservation, settled: false, shared: true, id, admittedAt, tpm: key.tpm !== undefined, redisReserved: reservation };
      return shared;
    }
    if (want > 0) lease.granted = 0;
    // Refused, but a lease this replica received meanwhile (a burst's first answer) still holds room: it is used.
    const late = this.fromLease(lease, key, reservation, now, 0);
    if (late !== undefined) {
      this.admissions.asked--; // counted as leased
      return late;
    }
    const redisNow = Number(r[2]);
    // Reset times are Redis's clock; shown against it, so a skewed replica still says the right number of seconds.
    const skew = Number.isFinite(redisNow) ? now - redisNow : 0;
    if (r[0] === 'rpm' && key.rpm !== undefined) {
      this.local.refusedElsewhere(key.name, 'rpm');
      return rpmRefusal(key, key.rpm, at + skew, now);
    }
    if (r[0] === 'tpm' && key.tpm !== undefined) {
      this.local.refusedElsewhere(key.name, 'tpm');
      return tpmRefusal(key, key.tpm, { settled: Number(r[3]), reserved: Number(r[4]), inflight: Number(r[5]) }, at + skew, now);
    }
    if (r[0] === 'budget' && key.budget !== undefined) {
      this.local.refusedElsewhere(key.name, 'budget');
      return budgetRefusal(key, key.budget, Number(r[3]), at, now);
    }
    this.logger.warn({ reply: r[0] }, 'unexpected answer from the shared admission; deciding alone');
    return this.alone(key, facts, now, id);
  }

  /** Redis away or slow: this replica's own limiter decides, and the admission is kept for the merge. */
  private alone(key: ClientKeyConfig, facts: RequestFacts, now: number, id = this.nextId()): Ticket | Refusal {
    const verdict = this.local.admit(key, facts, now);
    if ('reason' in verdict || !verdict.counted) return verdict;
    const tpm = key.tpm !== undefined;
    this.journal.remember({ name: key.name, id, admittedAt: now, reserved: verdict.reserved, tpm }, false);
    const alone: SharedTicket = { ...verdict, shared: false, id, admittedAt: now, tpm, redisReserved: verdict.reserved };
    return alone;
  }

  /** Shutting down: leases are given back, and the settlements still queued sent now. */
  close(): void {
    for (const lease of this.leases.values()) lease.drop();
    this.journal.flushSettles();
  }

  /** A key's names in Redis (SETTLE builds the same from `PREFIX:key:NAME`). */
  private keys(name: string): { requests: string; tokens: string; reservations: string; spend: string; sums: string } {
    const base = this.link.key('key', name);
    return { requests: `${base}:requests`, tokens: `${base}:tokens`, reservations: `${base}:reserved`, spend: `${base}:spend`, sums: `${base}:sums` };
  }

  private nextId(): string {
    return `${this.link.settings.replicaId}/${process.pid}/${(++this.counter).toString(36)}`;
  }
}
