import type { HedgeSettings } from '../config/schema.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import { hedgeDelayMs, type LatencyByModel } from '../endpoints/first-content.js';
import type { PickedKey } from '../endpoints/key-pool.js';
import type { Deadlines, Timed } from '../upstream/deadlines.js';
import type { AttemptRecord, RequestRecord } from './events.js';
import type { AttemptResult } from '../protocols/contract.js';
import { ClientSeat } from '../protocols/seat.js';
import type { Usage } from '../protocols/messages/sse.js';

/**
 * The attempts of one request when two may run at once (an attempt and its hedge): what is running, the hedge
 * deadline, the seat they compete for, and one queue of what happened to them, in order, for the handler's loop
 * to take one at a time. The handler decides (policy.ts); this keeps the books.
 */

/** One attempt under way. */
export interface RunningAttempt {
  /** 1-based, in the order attempts were started (the `x-qcc-attempts` header). */
  n: number;
  endpoint: EndpointRuntime;
  key: PickedKey | undefined;
  record: AttemptRecord;
  /** performance.now() at its start. */
  started: number;
  hedge: boolean;
}

export type RaceEvent =
  | { kind: 'settled'; run: RunningAttempt; result: AttemptResult }
  | { kind: 'threw'; run: RunningAttempt; error: unknown }
  /** The hedge delay of attempt `n` ran out (stale when another attempt has started since). */
  | { kind: 'hedge-due'; n: number };

/**
 * Input tokens an abandoned attempt may have cost: what its endpoint reported (`message_start` carries them) or,
 * when it reported nothing, the request's estimate at ~4 bytes a token.
 */
export function loserTokens(usage: Usage | undefined, bodyBytes: number): { tokens: number; estimated: boolean } {
  const reported = usage === undefined ? 0 : usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
  if (reported > 0) return { tokens: reported, estimated: false };
  return { tokens: Math.ceil(bodyBytes / 4), estimated: true };
}

export interface RaceContext {
  hedge: HedgeSettings;
  /** One timer for every request's hedge deadline (a Node timer each cost more than the rest of a stream's bookkeeping). */
  deadlines: Deadlines;
  /** The pool's first-content times: the hedge delay of an endpoint not measured yet. */
  poolFirstContent: LatencyByModel;
  /** Wall-clock milliseconds, for breakers. */
  now: () => number;
}

export class AttemptRace implements Timed {
  /** Timed: when the hedge is due (Infinity when no deadline runs), and the slot Deadlines keeps it in. */
  deadline = Number.POSITIVE_INFINITY;
  slot = 0;
  readonly running = new Map<number, RunningAttempt>();
  /** Set when the request may be hedged (a message request, streaming unless configured otherwise). */
  readonly seat: ClientSeat | undefined;
  private readonly events: RaceEvent[] = [];
  private waiter: ((e: RaceEvent) => void) | undefined;
  /** The attempt whose hedge deadline runs. */
  private hedgeFor = 0;
  private hedgeAfterMs = 0;
  /** A hedge was considered (sent, or refused by the budget): never a second one. */
  private hedgeTried = false;

  constructor(
    private readonly ctx: RaceContext,
    private readonly record: RequestRecord,
    hedgeable: boolean,
    /** Streams and whole answers have different first-content times: measured apart. */
    readonly latencyKey: string,
    private readonly bodyBytes: number,
  ) {
    this.seat = hedgeable ? new ClientSeat(() => this.ctx.deadlines.stop(this)) : undefined;
  }

  /** Follow an attempt that was just started; its hedge deadline is armed while no hedge has been tried. */
  track(run: RunningAttempt, result: Promise<AttemptResult>): void {
    this.running.set(run.n, run);
    result.then(
      (r) => this.settled(run, { kind: 'settled', run, result: r }),
      (error: unknown) => this.settled(run, { kind: 'threw', run, error }),
    );
    if (this.seat === undefined || this.hedgeTried) return;
    this.hedgeFor = run.n;
    this.hedgeAfterMs = hedgeDelayMs(this.ctx.hedge, run.endpoint.firstContent.get(this.latencyKey), this.ctx.poolFirstContent.get(this.latencyKey));
    this.ctx.deadlines.start(this, this.hedgeAfterMs);
  }

  /** Timed: the hedge delay ran out. */
  expired(): void {
    this.push({ kind: 'hedge-due', n: this.hedgeFor });
  }

  /** The next thing that happened; a settled attempt is no longer running once it is taken. */
  async next(): Promise<RaceEvent> {
    const e = this.events.shift() ?? (await new Promise<RaceEvent>((resolve) => (this.waiter = resolve)));
    if (e.kind !== 'hedge-due') this.running.delete(e.run.n);
    return e;
  }

  /**
   * May a hedge start now? Only for the deadline of the attempt started last, while it runs alone and nothing has
   * answered, once per request. Marks the hedge as tried either way.
   */
  hedgeWanted(e: { n: number }, attempts: number): boolean {
    if (this.hedgeTried || e.n !== attempts || this.running.size !== 1 || this.seat?.winner !== undefined) return false;
    this.hedgeTried = true;
    return true;
  }

  /** A hedge is being sent: it goes on the request's record. */
  hedgeSent(): void {
    this.record.hedge = { outcome: 'none', afterMs: this.hedgeAfterMs, loserTokens: 0, loserTokensEstimated: false };
  }

  /** An attempt stopped because its rival took the client: no failure; a first attempt overtaken by its hedge was slow. */
  lost(run: RunningAttempt, usage: Usage | undefined): void {
    run.record.lost = true;
    run.endpoint.breaker.release();
    const hedge = this.record.hedge;
    if (hedge === undefined) return;
    const cost = loserTokens(usage, this.bodyBytes);
    hedge.loserTokens += cost.tokens;
    hedge.loserTokensEstimated ||= cost.estimated;
    if (!run.hedge) run.endpoint.recordStall(run.record.ms, this.ctx.now());
  }

  /** An attempt answered (`firstContentMs` from its start): the race's outcome, and the endpoint's measurement. */
  answered(run: RunningAttempt, firstContentMs: number, success: boolean): void {
    const hedge = this.record.hedge;
    if (hedge !== undefined) hedge.outcome = run.hedge ? 'won' : 'lost';
    if (!success) return;
    run.endpoint.firstContent.push(this.latencyKey, firstContentMs);
    this.ctx.poolFirstContent.push(this.latencyKey, firstContentMs);
  }

  /**
   * The request is decided: stop whatever still runs and account for it before the record is finished. For a won
   * hedge, the time saved is known once the loser has settled. Undefined when nothing runs (nearly always): no
   * promise to wait for on every request.
   */
  settle(winner?: { firstContentMs: number }): Promise<void> | undefined {
    this.ctx.deadlines.stop(this);
    if (this.running.size === 0) {
      this.noteSaved(winner);
      return undefined;
    }
    return this.drain(winner);
  }

  private async drain(winner: { firstContentMs: number } | undefined): Promise<void> {
    const raceLost = this.seat?.winner !== undefined;
    this.seat?.cancelAll();
    while (this.running.size > 0) {
      const e = await this.next();
      if (e.kind !== 'settled' || e.result.kind !== 'cancelled') continue;
      if (raceLost) this.lost(e.run, e.result.usage);
      else {
        e.run.record.error = 'abandoned';
        e.run.endpoint.breaker.release();
      }
    }
    this.noteSaved(winner);
  }

  private noteSaved(winner: { firstContentMs: number } | undefined): void {
    const hedge = this.record.hedge;
    if (winner === undefined || hedge?.outcome !== 'won') return;
    const loser = this.record.attempts.find((a) => a.lost === true);
    if (loser !== undefined) hedge.savedMs = Math.max(0, loser.ms - winner.firstContentMs);
  }

  /** Nothing more will be started: no deadline may outlive the request. */
  close(): void {
    this.ctx.deadlines.stop(this);
  }

  private settled(run: RunningAttempt, e: RaceEvent): void {
    run.endpoint.inflight--;
    run.record.ms = performance.now() - run.started;
    this.push(e);
  }

  private push(e: RaceEvent): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w(e);
    } else {
      this.events.push(e);
    }
  }
}
