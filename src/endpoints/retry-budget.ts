/**
 * One budget for every extra upstream call a request may cost: failovers and hedges.
 *
 * - Failovers and hedges together ≤ ratio × requests of the last `windowSeconds`, plus a floor per second that is
 *   always allowed (Linkerd/Envoy style). Without it an outage turns every request into N upstream calls.
 * - Hedges alone ≤ their own share of the requests of the last minute, plus a few a minute always allowed: a
 *   single Claude Code user sends a request every few seconds, so any percentage of their traffic rounds to zero
 *   and they would never be hedged; a team's traffic is capped by the share.
 */
export interface RetryBudgetSettings {
  ratio: number;
  floorPerSecond: number;
  windowSeconds: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetSettings = { ratio: 0.2, floorPerSecond: 10, windowSeconds: 10 };

/** The hedge share is judged over a minute: long enough to see a single user's traffic. */
const HEDGE_WINDOW_SECONDS = 60;
/** Hedges allowed per minute whatever the share: one every twenty seconds. */
export const HEDGE_FLOOR_PER_MINUTE = 3;

export class RetryBudget {
  private readonly slots: number;
  private readonly requests: number[];
  private readonly failovers: number[];
  private readonly hedges: number[];
  private currentSecond = -1;
  /** What this replica spent, ever: the difference between two reads is what it tells the others (cluster/). */
  readonly local = { requests: 0, failovers: 0, hedges: 0 };

  constructor(private readonly settings: RetryBudgetSettings = DEFAULT_RETRY_BUDGET) {
    this.slots = Math.max(settings.windowSeconds, HEDGE_WINDOW_SECONDS);
    this.requests = new Array<number>(this.slots).fill(0);
    this.failovers = new Array<number>(this.slots).fill(0);
    this.hedges = new Array<number>(this.slots).fill(0);
  }

  recordRequest(nowMs: number): void {
    this.requests[this.slot(nowMs)]!++;
    this.local.requests++;
  }

  /** Other replicas' requests, failovers and hedges of the last second: one budget for the deployment. */
  addRemote(nowMs: number, requests: number, failovers: number, hedges: number): void {
    const slot = this.slot(nowMs);
    this.requests[slot]! += requests;
    this.failovers[slot]! += failovers;
    this.hedges[slot]! += hedges;
  }

  /** Spend one failover if the budget allows it. */
  tryFailover(nowMs: number): boolean {
    const slot = this.slot(nowMs);
    if (!this.sharedAllows(nowMs)) return false;
    this.failovers[slot]!++;
    this.local.failovers++;
    return true;
  }

  /** Spend one hedge if both its own share (`maxRatio` of the last minute's requests) and the shared budget allow it. */
  tryHedge(nowMs: number, maxRatio: number): boolean {
    const slot = this.slot(nowMs);
    if (!this.sharedAllows(nowMs)) return false;
    const second = Math.floor(nowMs / 1000);
    let requests = 0;
    let hedges = 0;
    for (let i = 0; i < HEDGE_WINDOW_SECONDS; i++) {
      const s = this.index(second - i);
      requests += this.requests[s]!;
      hedges += this.hedges[s]!;
    }
    if (hedges + 1 > maxRatio * requests + HEDGE_FLOOR_PER_MINUTE) return false;
    this.hedges[slot]!++;
    this.failovers[slot]!++;
    this.local.hedges++;
    this.local.failovers++;
    return true;
  }

  /** Failovers and hedges of the last window are within ratio × requests + the floor. */
  private sharedAllows(nowMs: number): boolean {
    const second = Math.floor(nowMs / 1000);
    let requests = 0;
    let spent = 0;
    for (let i = 0; i < this.settings.windowSeconds; i++) {
      const s = this.index(second - i);
      requests += this.requests[s]!;
      spent += this.failovers[s]!;
    }
    return spent < this.settings.ratio * requests + this.settings.floorPerSecond * this.settings.windowSeconds;
  }

  private index(second: number): number {
    return ((second % this.slots) + this.slots) % this.slots;
  }

  private slot(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.currentSecond) {
      // Clear the seconds that passed since the last call (all of them after a long pause).
      const gap = this.currentSecond < 0 ? this.slots : Math.min(second - this.currentSecond, this.slots);
      for (let i = 1; i <= gap; i++) {
        const s = this.index(this.currentSecond + i);
        this.requests[s] = 0;
        this.failovers[s] = 0;
        this.hedges[s] = 0;
      }
      this.currentSecond = second;
    }
    return this.index(second);
  }
}
