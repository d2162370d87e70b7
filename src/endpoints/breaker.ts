import type { Penalty } from './penalty.js';

/**
 * Circuit breaker for one endpoint: closed → open → half-open → closed. It opens on a run of consecutive
 * failures or on a failure rate over a recent window (with a minimum sample), and stays open for a time that
 * depends on the cause and grows with repeated ejections. Half-open lets exactly one trial through.
 *
 * Key problems (401/403/402, 429) are not handled here: they belong to the key that caused them (key-pool.ts).
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  consecutiveFailures: number;
  /** Connect failures are unambiguous: fewer of them are needed to open. */
  consecutiveConnectFailures: number;
  windowSize: number;
  minSamples: number;
  failureRate: number;
  baseOpenMs: number;
  maxOpenMs: number;
  overloadOpenMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = {
  consecutiveFailures: 5,
  consecutiveConnectFailures: 2,
  windowSize: 20,
  minSamples: 10,
  failureRate: 0.5,
  baseOpenMs: 30_000,
  maxOpenMs: 300_000,
  overloadOpenMs: 5_000,
};

export type BreakerTransition = { from: BreakerState; to: BreakerState; cause: Penalty | 'success' | 'timer' };

export class Breaker {
  state: BreakerState = 'closed';
  consecutiveFailures = 0;
  /** How many times the breaker opened since the endpoint was last healthy for a while; lengthens open time. */
  ejections = 0;
  openUntil = 0;
  cause: Penalty | undefined;
  private trialInFlight = false;
  private window: boolean[] = [];
  private windowFailures = 0;

  constructor(
    private readonly settings: BreakerSettings = DEFAULT_BREAKER,
    private readonly onTransition?: (t: BreakerTransition) => void,
  ) {}

  /** May a request be sent now? Moves open → half-open once the open time is over. */
  canServe(now: number): boolean {
    if (this.state === 'closed') return true;
    if (this.state === 'open') {
      if (now < this.openUntil) return false;
      this.transition('half-open', 'timer');
    }
    return !this.trialInFlight;
  }

  /** Called when a request is actually sent through a half-open breaker. */
  beginTrial(): void {
    if (this.state === 'half-open') this.trialInFlight = true;
  }

  /** A request that ended without judging the endpoint (client went away, caller's own error). */
  release(): void {
    this.trialInFlight = false;
  }

  recordSuccess(): void {
    this.trialInFlight = false;
    this.consecutiveFailures = 0;
    this.push(false);
    if (this.state !== 'closed') {
      this.transition('closed', 'success');
      this.resetWindow();
    }
  }

  recordFailure(penalty: Penalty, now: number): void {
    this.trialInFlight = false;
    this.consecutiveFailures++;
    this.push(true);
    if (this.state === 'half-open') return this.open(penalty, now);
    if (this.state === 'open') return;
    if (penalty === 'overload') return this.open(penalty, now, this.settings.overloadOpenMs);
    const needed = penalty === 'connect' ? this.settings.consecutiveConnectFailures : this.settings.consecutiveFailures;
    const rateTripped =
      this.window.length >= this.settings.minSamples && this.windowFailures / this.window.length >= this.settings.failureRate;
    if (this.consecutiveFailures >= needed || rateTripped) this.open(penalty, now);
  }

  /** Force open (e.g. restored from persisted state at start). */
  open(cause: Penalty, now: number, forMs?: number): void {
    const growing = cause !== 'overload';
    if (growing) this.ejections++;
    const ms = forMs ?? Math.min(this.settings.baseOpenMs * Math.max(1, this.ejections), this.settings.maxOpenMs);
    this.openUntil = now + ms;
    this.cause = cause;
    this.transition('open', cause);
  }

  /**
   * Another replica's breaker for this endpoint opened until `until`: this one opens too (without counting an
   * ejection of its own; the sender's open time already grew with its ejections), or stays open at least as long.
   */
  adoptOpen(cause: Penalty, until: number, now: number): void {
    if (until <= now) return;
    this.openUntil = Math.max(this.state === 'open' ? this.openUntil : 0, until);
    this.cause = cause;
    this.trialInFlight = false;
    this.transition('open', cause);
  }

  /**
   * Another replica's request to this endpoint failed: it lengthens the run of consecutive failures here, so a run
   * spread over replicas opens every breaker as one replica's run would. Not added to the failure-rate window: the
   * other replica's successes are not shared (one message per request would be), so its failures alone would skew
   * the rate. Only a closed breaker counts it: an open or half-open one is already judging the endpoint.
   */
  adoptFailure(penalty: Penalty, now: number): void {
    if (this.state !== 'closed') return;
    this.consecutiveFailures++;
    const needed = penalty === 'connect' ? this.settings.consecutiveConnectFailures : this.settings.consecutiveFailures;
    if (this.consecutiveFailures >= needed) this.open(penalty, now);
  }

  /** Another replica's request succeeded after a run of failures: the run is over here too. */
  adoptRunEnded(): void {
    if (this.state === 'closed') this.consecutiveFailures = 0;
  }

  /** A passing health/recovery check closes the breaker whatever its state. */
  reset(): void {
    this.trialInFlight = false;
    this.consecutiveFailures = 0;
    this.ejections = 0;
    this.resetWindow();
    if (this.state !== 'closed') this.transition('closed', 'success');
  }

  msUntilRetry(now: number): number {
    return this.state === 'open' ? Math.max(0, this.openUntil - now) : 0;
  }

  private transition(to: BreakerState, cause: BreakerTransition['cause']): void {
    if (this.state === to) return;
    const from = this.state;
    this.state = to;
    if (to === 'closed') this.cause = undefined;
    this.onTransition?.({ from, to, cause });
  }

  private push(failed: boolean): void {
    this.window.push(failed);
    if (failed) this.windowFailures++;
    if (this.window.length > this.settings.windowSize && this.window.shift()) this.windowFailures--;
  }

  private resetWindow(): void {
    this.window = [];
    this.windowFailures = 0;
  }
}
