/**
 * Effective weight = configured weight × a bounded factor from what was measured, so a slow or flaky endpoint
 * gets less traffic before it fails outright, and a recovering one is ramped up instead of flooded.
 *
 *   factor = success × latency × health × slow-start, clamped to [MIN_FACTOR, 1]
 *   success  = 0.2 + 0.8 · s²        s: EWMA of attempt success (1 = all succeeded)
 *   latency  = clamp(√(best / own), 0.25, 1)   own/best: EWMA time to first byte, this endpoint / the pool's fastest
 *   health   = 0.5 + 0.5 · score/100 (1 until a health score exists)
 *   slow-start ramps linearly from 0.1 to 1 over SLOW_START_MS after a recovery
 */

export const MIN_FACTOR = 0.05;
export const SLOW_START_MS = 30_000;
export const SUCCESS_ALPHA = 0.1;
export const TTFB_ALPHA = 0.2;

export interface WeightInputs {
  successEwma: number;
  ttfbEwmaMs: number | undefined;
  bestTtfbMs: number | undefined;
  healthScore: number | undefined;
  slowStartSince: number | undefined;
  now: number;
}

export function weightFactor(w: WeightInputs): number {
  const s = Math.min(1, Math.max(0, w.successEwma));
  const success = 0.2 + 0.8 * s * s;
  let latency = 1;
  if (w.ttfbEwmaMs !== undefined && w.bestTtfbMs !== undefined && w.ttfbEwmaMs > 0) {
    latency = Math.min(1, Math.max(0.25, Math.sqrt(w.bestTtfbMs / w.ttfbEwmaMs)));
  }
  const health = w.healthScore === undefined ? 1 : 0.5 + 0.5 * (Math.min(100, Math.max(0, w.healthScore)) / 100);
  let slowStart = 1;
  if (w.slowStartSince !== undefined) {
    const elapsed = w.now - w.slowStartSince;
    if (elapsed < SLOW_START_MS) slowStart = 0.1 + 0.9 * Math.max(0, elapsed / SLOW_START_MS);
  }
  return Math.min(1, Math.max(MIN_FACTOR, success * latency * health * slowStart));
}

export function ewma(previous: number | undefined, sample: number, alpha: number): number {
  return previous === undefined ? sample : previous + alpha * (sample - previous);
}
