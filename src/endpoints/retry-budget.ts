/**
 * Failovers allowed ≤ ratio × requests seen in the last window, plus a floor per second that is always
 * allowed (Linkerd/Envoy style). Without it an outage turns every request into N upstream calls.
 */
export interface RetryBudgetSettings {
  ratio: number;
  floorPerSecond: number;
  windowSeconds: number;
}

export const DEFAULT_RETRY_BUDGET: RetryBudgetSettings = { ratio: 0.2, floorPerSecond: 10, windowSeconds: 10 };

export class RetryBudget {
  private readonly requests: number[];
  private readonly failovers: number[];
  private currentSecond = -1;

  constructor(private readonly settings: RetryBudgetSettings = DEFAULT_RETRY_BUDGET) {
    this.requests = new Array<number>(settings.windowSeconds).fill(0);
    this.failovers = new Array<number>(settings.windowSeconds).fill(0);
  }

  recordRequest(nowMs: number): void {
    this.requests[this.slot(nowMs)]!++;
  }

  /** Spend one failover if the budget allows it. */
  tryFailover(nowMs: number): boolean {
    const slot = this.slot(nowMs);
    let requests = 0;
    let failovers = 0;
    for (let i = 0; i < this.settings.windowSeconds; i++) {
      requests += this.requests[i]!;
      failovers += this.failovers[i]!;
    }
    const allowed = this.settings.ratio * requests + this.settings.floorPerSecond * this.settings.windowSeconds;
    if (failovers >= allowed) return false;
    this.failovers[slot]!++;
    return true;
  }

  private slot(nowMs: number): number {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.currentSecond) {
      // Clear the seconds that passed since the last call (all of them after a long pause).
      const gap = this.currentSecond < 0 ? this.settings.windowSeconds : Math.min(second - this.currentSecond, this.settings.windowSeconds);
      for (let i = 1; i <= gap; i++) {
        const s = (((this.currentSecond + i) % this.settings.windowSeconds) + this.settings.windowSeconds) % this.settings.windowSeconds;
        this.requests[s] = 0;
        this.failovers[s] = 0;
      }
      this.currentSecond = second;
    }
    return second % this.settings.windowSeconds;
  }
}
