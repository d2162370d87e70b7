import type { ClientKeyConfig } from '../config/schema.js';
import { matchesModel } from '../config/model-patterns.js';
import type { ClientKeyView, KeyUsageView } from '../shared/api-types.js';
import { budgetWindow, MINUTE_MS, SlidingCount, SlidingSum } from './windows.js';

/**
 * Per-key limits, enforced before any upstream attempt (issue #23):
 *
 * - `rpm`: requests admitted in the last 60 s, an exact sliding log. A request is admitted while fewer than `rpm`
 *   are in the window, so the limit holds exactly, under any concurrency (admission is synchronous).
 * - `tpm`: input + cache-write + output tokens settled in the last 60 s, plus what requests in flight reserved.
 *   A request reserves its input estimate (body bytes / 4) plus a quarter of its `max_tokens`, and is admitted
 *   while that total is below the limit; at the end its reservation is replaced by its real usage. Cache reads are
 *   not counted (nor are they by Anthropic's own input limits: they are what makes long sessions affordable, and
 *   the budget prices them). A burst overshoots by at most what the requests in flight at the moment the minute
 *   filled use beyond their reservations: each was admitted while there was room.
 * - `budget`: US dollars settled in the current UTC day, ISO week or month, priced like the request log. A request
 *   is admitted while the spend is below the budget; requests in flight when it is crossed still finish, so the
 *   overshoot is at most what they cost.
 *
 * Only message requests count towards the limits; `count_tokens` and `/v1/models` do not (they cost nothing),
 * but the model allowlist applies to them too.
 */

/** Of `max_tokens`, what a request reserves as output until it settles (see above). */
export const OUTPUT_RESERVE_FRACTION = 0.25;
/** Bytes of request body per input token, for the reservation (settled to the real count). */
const BYTES_PER_TOKEN = 4;
const DAY_MS = 86_400_000;
/** Days of spend kept per key: the longest budget window, a month. */
const DAYS_KEPT = 32;

export type RefusalReason = 'rpm' | 'tpm' | 'budget' | 'model';

export interface Refusal {
  reason: RefusalReason;
  message: string;
  /** Seconds until the request would be admitted (rate limits, budgets). */
  retryAfterS?: number;
  /** `anthropic-ratelimit-*` headers describing the limit that refused. */
  headers: Record<string, string>;
}

export interface RequestFacts {
  model: string | undefined;
  /** A Messages request (counted), not count_tokens or a models listing. */
  messages: boolean;
  bodyBytes: number;
  maxTokens: number | undefined;
}

/** An admitted request's claim on its key's windows, settled once when it ends. */
export interface Ticket {
  readonly name: string;
  readonly counted: boolean;
  readonly reserved: number;
  settled: boolean;
}

/** Tokens that count towards `tpm`, from a request's usage. */
export function countedTokens(u: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number } | undefined): number {
  if (u === undefined) return 0;
  return (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.output_tokens ?? 0);
}


class KeyUsage {
  readonly requests = new SlidingCount();
  readonly tokens = new SlidingSum();
  reserved = 0;
  inflight = 0;
  /** Spend per UTC day (day start → USD), the last DAYS_KEPT days. */
  readonly daily = new Map<number, number>();
  /** The current budget window's sum, cached until the window ends or its period changes. */
  private window: { per: string; start: number; end: number; spent: number } | undefined;
  lastUsed: number | undefined;
  admitted = 0;
  readonly refused: Record<RefusalReason, number> = { rpm: 0, tpm: 0, budget: 0, model: 0 };

  spentIn(per: NonNullable<ClientKeyConfig['budget']>['per'], now: number): { spent: number; start: number; end: number } {
    const w = this.window;
    if (w !== undefined && w.per === per && now >= w.start && now < w.end) return w;
    const { start, end } = budgetWindow(per, now);
    let spent = 0;
    for (const [day, usd] of this.daily) if (day >= start && day < end) spent += usd;
    this.window = { per, start, end, spent };
    return this.window;
  }

  addSpend(at: number, usd: number): void {
    if (!(usd > 0 && Number.isFinite(usd))) return;
    const day = at - (at % DAY_MS);
    this.daily.set(day, (this.daily.get(day) ?? 0) + usd);
    if (this.daily.size > DAYS_KEPT) {
      const oldest = Math.min(...this.daily.keys());
      this.daily.delete(oldest);
    }
    const w = this.window;
    if (w !== undefined && at >= w.start && at < w.end) w.spent += usd;
  }
}

/** What a request reserves of a `tpm` limit until it settles: its input estimate and part of its `max_tokens`. */
export function reservationFor(facts: RequestFacts): number {
  return Math.ceil(facts.bodyBytes / BYTES_PER_TOKEN) + Math.ceil((facts.maxTokens ?? 0) * OUTPUT_RESERVE_FRACTION);
}

export function rpmRefusal(key: ClientKeyConfig, rpm: number, reset: number, now: number): Refusal {
  return {
    reason: 'rpm',
    message: `key "${key.name}" is limited to ${rpm} requests per minute; the next one is allowed at ${isoSeconds(reset)}`,
    retryAfterS: secondsUntil(reset, now),
    headers: {
      'anthropic-ratelimit-requests-limit': String(rpm),
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': isoSeconds(reset),
    },
  };
}

export function tpmRefusal(key: ClientKeyConfig, tpm: number, used: { settled: number; reserved: number; inflight: number }, reset: number, now: number): Refusal {
  const inFlight = used.inflight > 0 ? ` (${used.reserved} reserved by ${used.inflight} request${used.inflight === 1 ? '' : 's'} in flight)` : '';
  return {
    reason: 'tpm',
    message: `key "${key.name}" is limited to ${tpm} tokens per minute and has used ${used.settled}${inFlight}; more are allowed at ${isoSeconds(reset)}`,
    retryAfterS: secondsUntil(reset, now),
    headers: {
      'anthropic-ratelimit-tokens-limit': String(tpm),
      'anthropic-ratelimit-tokens-remaining': '0',
      'anthropic-ratelimit-tokens-reset': isoSeconds(reset),
    },
  };
}

export function budgetRefusal(key: ClientKeyConfig, budget: NonNullable<ClientKeyConfig['budget']>, spent: number, end: number, now: number): Refusal {
  return {
    reason: 'budget',
    message:
      `key "${key.name}" has used its budget of $${budget.usd.toFixed(2)} per ${budget.per} ` +
      `($${spent.toFixed(2)} spent); it resets at ${isoSeconds(end)} (UTC)`,
    retryAfterS: secondsUntil(end, now),
    headers: {},
  };
}

function isoSeconds(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function secondsUntil(at: number, now: number): number {
  return Math.max(1, Math.ceil((at - now) / 1000));
}

/**
 * Who admits a request under its key's limits: this replica alone (KeyLimiter), or all replicas together
 * (cluster/shared-limiter.ts), which needs a round trip to Redis and so may answer later.
 */
export interface KeyAdmission {
  admit(key: ClientKeyConfig, facts: RequestFacts, now: number): Ticket | Refusal | Promise<Ticket | Refusal>;
  settle(ticket: Ticket, tokens: number, usd: number, now: number): void;
}

export class KeyLimiter implements KeyAdmission {
  private readonly usage = new Map<string, KeyUsage>();

  private of(name: string): KeyUsage {
    let u = this.usage.get(name);
    if (u === undefined) {
      u = new KeyUsage();
      this.usage.set(name, u);
    }
    return u;
  }

  /** Admit a request under `key`'s limits, or say why not. Synchronous: no two admissions interleave. */
  admit(key: ClientKeyConfig, facts: RequestFacts, now: number): Ticket | Refusal {
    const u = this.of(key.name);
    const outside = this.outsideModels(key, facts);
    if (outside !== undefined) return outside;
    if (!facts.messages) return { name: key.name, counted: false, reserved: 0, settled: false };

    if (key.rpm !== undefined) {
      const used = u.requests.count(now);
      if (used >= key.rpm) {
        u.refused.rpm++;
        return rpmRefusal(key, key.rpm, u.requests.nextExpiry() ?? now + MINUTE_MS, now);
      }
    }
    const reservation = reservationFor(facts);
    if (key.tpm !== undefined) {
      const settled = u.tokens.sum(now);
      if (settled + u.reserved >= key.tpm) {
        u.refused.tpm++;
        // Room comes back as settled tokens leave the minute, or sooner as requests in flight settle.
        const freed = u.tokens.dropsBelowAt(key.tpm - u.reserved);
        return tpmRefusal(key, key.tpm, { settled, reserved: u.reserved, inflight: u.inflight }, freed ?? now + (u.inflight > 0 ? 2_000 : MINUTE_MS), now);
      }
    }
    if (key.budget !== undefined) {
      const w = u.spentIn(key.budget.per, now);
      if (w.spent >= key.budget.usd) {
        u.refused.budget++;
        return budgetRefusal(key, key.budget, w.spent, w.end, now);
      }
    }
    return this.admitted(key.name, reservation, now);
  }

  /** The model allowlist: a refusal, or undefined when the key may use the model. Needs no shared state. */
  outsideModels(key: ClientKeyConfig, facts: RequestFacts): Refusal | undefined {
    if (key.models === undefined || facts.model === undefined || matchesModel(key.models, facts.model)) return undefined;
    this.of(key.name).refused.model++;
    return {
      reason: 'model',
      message: `key "${key.name}" may not use model "${facts.model}" (allowed: ${key.models.join(', ')}); ask whoever manages qcc to allow it (qcc key set ${key.name} --models …)`,
      headers: {},
    };
  }

  /**
   * Count an admission decided elsewhere (the shared limits in Redis): this replica's own windows stay warm, so
   * that if Redis goes away it enforces the limits alone from what it has seen, not from zero.
   */
  admitted(name: string, reservation: number, now: number): Ticket {
    const u = this.of(name);
    u.requests.add(now);
    u.reserved += reservation;
    u.inflight++;
    u.admitted++;
    u.lastUsed = now;
    return { name, counted: true, reserved: reservation, settled: false };
  }

  /** A refusal decided elsewhere, counted for this key's view. */
  refusedElsewhere(name: string, reason: RefusalReason): void {
    this.of(name).refused[reason]++;
  }

  /** The request ended: its reservation gives way to what it really used and cost. Idempotent. */
  settle(ticket: Ticket, tokens: number, usd: number, now: number): void {
    if (ticket.settled) return;
    ticket.settled = true;
    if (!ticket.counted) return;
    const u = this.of(ticket.name);
    u.reserved -= ticket.reserved;
    u.inflight--;
    u.tokens.add(now, tokens);
    u.addSpend(now, usd);
  }

  /** Rebuild from the request log at start: a restart neither resets a budget nor empties a minute's window. */
  restore(rows: Iterable<{ key: string; startedAt: number; endedAt: number; tokens: number; usd: number }>): void {
    for (const r of rows) {
      const u = this.of(r.key);
      u.requests.add(r.startedAt);
      u.tokens.add(r.endedAt, r.tokens);
      u.addSpend(r.endedAt, r.usd);
      u.lastUsed = Math.max(u.lastUsed ?? 0, r.startedAt);
    }
  }

  view(key: ClientKeyConfig, now: number): KeyUsageView {
    const u = this.of(key.name);
    const view: KeyUsageView = {
      requests_last_minute: u.requests.count(now),
      tokens_last_minute: u.tokens.sum(now),
      tokens_reserved: u.reserved,
      inflight: u.inflight,
      last_used: u.lastUsed === undefined ? null : new Date(u.lastUsed).toISOString(),
      admitted: u.admitted,
      refused: { ...u.refused },
    };
    if (key.budget !== undefined) {
      const w = u.spentIn(key.budget.per, now);
      view.budget = { spent_usd: Math.round(w.spent * 1e6) / 1e6, limit_usd: key.budget.usd, per: key.budget.per, resets_at: new Date(w.end).toISOString() };
    }
    return view;
  }
}

/** A key as listed (CLI, dashboard): its limits, state and current usage; no secret, no hash. */
export function keyView(key: ClientKeyConfig, limiter: KeyLimiter, now: number): ClientKeyView {
  const expired = key.expires_at !== undefined && Date.parse(key.expires_at) <= now;
  return {
    name: key.name,
    prefix: key.prefix,
    rpm: key.rpm ?? null,
    tpm: key.tpm ?? null,
    budget: key.budget ?? null,
    models: key.models ?? null,
    endpoints: key.endpoints ?? null,
    expires_at: key.expires_at ?? null,
    note: key.note ?? null,
    created_at: key.created_at,
    revoked_at: key.revoked_at ?? null,
    rotated_at: key.rotated_at ?? null,
    state: key.revoked_at !== undefined ? 'revoked' : expired ? 'expired' : 'active',
    usage: limiter.view(key, now),
  };
}
