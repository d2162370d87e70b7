import type { StrategyName } from '../config/schema.js';

/** What a strategy sees of an endpoint: a plain snapshot, so strategies stay pure and testable. */
export interface EndpointView {
  readonly id: string;
  /** Effective weight (configured × measured factor); > 0. */
  readonly weight: number;
  readonly inflight: number;
  /** EWMA time to first byte, undefined until measured. */
  readonly ttfbMs: number | undefined;
  readonly priority: number;
  /** False when disabled, cooling, open, out of keys or full: a strategy must never pick it. */
  readonly available: boolean;
}

/**
 * A balancing strategy: picks one endpoint among the views, synchronously. A strategy may keep state of its
 * own (smooth round robin does), but only in the instance its factory returns, never in the module.
 */
export interface Strategy {
  readonly name: StrategyName;
  pick(views: readonly EndpointView[]): EndpointView | undefined;
}

export interface StrategyDeps {
  /** Uniform in [0, 1); injectable so tests are deterministic. */
  random: () => number;
}

export type StrategyFactory = (deps: StrategyDeps) => Strategy;

/** Pick by weight among `views` using one random draw. */
export function weightedDraw(views: readonly EndpointView[], random: () => number): EndpointView | undefined {
  let total = 0;
  for (const v of views) total += v.weight;
  if (views.length === 0 || total <= 0) return undefined;
  let r = random() * total;
  for (const v of views) {
    r -= v.weight;
    if (r < 0) return v;
  }
  return views[views.length - 1];
}

export function availableOnly(views: readonly EndpointView[]): EndpointView[] {
  return views.filter((v) => v.available && v.weight > 0);
}
