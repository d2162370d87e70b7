import type { Logger } from '../log.js';
import type { RedisLink } from './redis-link.js';
import { DAY_MS, RECORD, RESERVATION_TTL_MS, SETTLE } from './limit-scripts.js';

/**
 * What a replica owes the shared limits in Redis (shared-limiter.ts): settlements of requests Redis admitted,
 * batched so that they cost no round trip of their own, and the journal of what it admitted alone while Redis was
 * away, merged when Redis returns so that a budget loses nothing.
 */

/** Admissions made alone during an outage that are kept for the merge (older ones are counted locally only). */
const MAX_JOURNAL = 50_000;

/** Settlements wait at most this long for an admission to travel with. */
export const SETTLE_BATCH_MS = 50;

/** An admission to write to Redis: settled, given back unused, or made alone during an outage. */
export interface JournalEntry {
  name: string;
  id: string;
  admittedAt: number;
  /** What it reserved in Redis if Redis did count it (its answer was lost): removed at the merge. */
  reserved: number;
  tpm: boolean;
  /** A leased admission never used: given back. */
  release?: boolean;
  settled?: { tokens: number; usd: number; at: number };
}

/** A settlement as SETTLE's argument; `late`: merged after an outage, at the time it settled. */
function settleArg(link: RedisLink, e: JournalEntry, late: boolean): string {
  const { tokens, usd, at } = e.settled!;
  const day = at - (at % DAY_MS);
  // Usage is the endpoint's (untrusted): a count that is not a whole number of tokens is rounded, a NaN is none.
  const counted = Number.isFinite(tokens) ? Math.min(1e12, Math.max(0, Math.round(tokens))) : 0;
  const spent = Number.isFinite(usd) && usd > 0 ? usd : 0;
  return `${link.key('key', e.name)}|${e.id}|${e.reserved}|${counted}|${spent}|${day}|${day - 32 * DAY_MS}|${e.tpm ? '1' : ''}|${late ? at : ''}|${e.release === true ? '1' : ''}`;
}

export class LimitJournal {
  private readonly journal: JournalEntry[] = [];
  private readonly unsettled = new Map<string, JournalEntry>();
  private merging: Promise<number> = Promise.resolve(0);
  private mergeQueued: Promise<number> | undefined;
  private inMerge = 0;
  /** Settlements waiting to travel with the next admission (SETTLE_BATCH_MS at most). */
  private readonly settles: JournalEntry[] = [];
  private settleTimer: NodeJS.Timeout | undefined;
  private settleWarnedAt = 0;

  constructor(
    private readonly link: RedisLink,
    private readonly logger: Logger,
  ) {}

  /** Admissions made alone still waiting to be written to Redis (those being written included). */
  get pending(): number {
    return this.journal.length + this.inMerge;
  }

  /** A settlement (or an admission given back) for Redis: sent with the next admission, or within SETTLE_BATCH_MS. */
  queueSettle(entry: JournalEntry): void {
    this.settles.push(entry);
    if (this.settleTimer === undefined) {
      this.settleTimer = setTimeout(() => this.flushSettles(), SETTLE_BATCH_MS);
      this.settleTimer.unref();
    }
  }

  /**
   * Send the queued settlements in one script call. Called just before an admission is sent, so both leave in
   * one write and their answers come back in one read (node-redis pipelines what is sent in one tick).
   */
  flushSettles(): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (this.settles.length === 0) return;
    const batch = this.settles.splice(0);
    const args = batch.map((e) => settleArg(this.link, e, false));
    this.link.script(SETTLE, [], args, 1_000).catch((e: unknown) => {
      // Their reservations expire by themselves; their tokens and spend are kept for the merge.
      for (const entry of batch) this.remember(entry, true);
      // Redis answering with an error (not away: the link says that) is worth a line, once in a while.
      const now = Date.now();
      if (this.link.up && now - this.settleWarnedAt > 10_000) {
        this.settleWarnedAt = now;
        this.logger.warn({ err: e, settlements: batch.length }, 'client keys: settlements not written to Redis; kept for the merge');
      }
    });
  }

  /** An admission made alone (or whose answer was lost), or a settlement that could not be sent: kept for the merge. */
  remember(entry: JournalEntry, settled: boolean): void {
    if (this.journal.length >= MAX_JOURNAL) return;
    this.journal.push(entry);
    if (!settled) this.unsettled.set(entry.id, entry);
    if (this.unsettled.size > MAX_JOURNAL) this.unsettled.delete(this.unsettled.keys().next().value!);
  }

  /** A request admitted alone ended: its journal entry has its tokens and cost now (merged at once if Redis is back). */
  settledAlone(id: string, tokens: number, usd: number, now: number): void {
    const entry = this.unsettled.get(id);
    if (entry === undefined) return;
    this.unsettled.delete(id);
    entry.settled = { tokens, usd, at: now };
    if (this.link.up) void this.merge(now);
  }

  /** Redis is back: what this replica admitted alone is counted in the shared windows and budgets. */
  merge(now = Date.now()): Promise<number> {
    // One merge at a time: entries taken out of the journal are still pending until written. One waits behind the
    // running one at most (a merge asked for while Redis hangs must not queue up one per second).
    if (this.mergeQueued !== undefined) return this.mergeQueued;
    const run = this.merging.then(() => {
      this.mergeQueued = undefined;
      return this.mergeNow(now);
    });
    this.mergeQueued = run;
    this.merging = run.catch(() => 0);
    return run;
  }

  private async mergeNow(now: number): Promise<number> {
    // A request still running is merged once it settles (its tokens and cost are not known before).
    const entries = this.journal.splice(0);
    this.inMerge = entries.length;
    let merged = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.settled === undefined && now - e.admittedAt < RESERVATION_TTL_MS) {
        this.inMerge--;
        this.journal.push(e);
        continue;
      }
      try {
        // Idempotent: the request's id is its member of the window, so one merged twice counts once.
        await this.link.script(RECORD, [`${this.link.key('key', e.name)}:requests`], [e.id, String(e.admittedAt)], 1_000);
        if (e.settled) await this.link.script(SETTLE, [], [settleArg(this.link, e, true)], 1_000);
        merged++;
        this.inMerge--;
      } catch {
        // Redis is away or hangs: the rest waits for the next try (one timeout, not one per entry).
        const rest = entries.slice(i);
        this.journal.push(...rest);
        this.inMerge -= rest.length;
        break;
      }
    }
    if (merged > 0) this.logger.info({ merged }, 'client keys: admissions made while Redis was away are now in the shared limits');
    return merged;
  }
}
