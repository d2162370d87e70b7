import type { HedgeSettings } from '../config/schema.js';

/**
 * Time to first content (the first `content_block_delta`, or the whole answer for a non-streaming request), kept
 * per endpoint and model as the last SAMPLES observations. The hedge delay is a high quantile of it: a request
 * still waiting past the point where 95 % of its kind had started answering is probably stuck.
 */

const SAMPLES = 128;
/** Fewer observations than this say too little about the tail: the pool's figure, or the cold default, is used. */
export const MIN_SAMPLES = 20;
/** Recompute the quantile after this many new samples, not on every request (a sort of 128 numbers). */
const RESORT_EVERY = 32;
export const HEDGE_QUANTILE = 0.95;
/** Models tracked per endpoint (names come from clients). */
const MAX_MODELS = 32;

export class LatencyWindow {
  private readonly ring = new Float64Array(SAMPLES);
  private count = 0;
  private next = 0;
  private sinceSort = 0;
  private cached: number | undefined;

  push(ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % SAMPLES;
    if (this.count < SAMPLES) this.count++;
    this.sinceSort++;
  }

  get size(): number {
    return this.count;
  }

  /** Nearest-rank quantile of the samples held, or undefined with fewer than MIN_SAMPLES. */
  quantile(q = HEDGE_QUANTILE): number | undefined {
    if (this.count < MIN_SAMPLES) return undefined;
    if (q !== HEDGE_QUANTILE) return nearestRank(this.sorted(), q);
    if (this.cached === undefined || this.sinceSort >= RESORT_EVERY) {
      this.cached = nearestRank(this.sorted(), q);
      this.sinceSort = 0;
    }
    return this.cached;
  }

  private sorted(): Float64Array {
    return this.ring.slice(0, this.count).sort();
  }
}

function nearestRank(sorted: Float64Array, q: number): number {
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Windows by model, bounded: the least recently added model is dropped first. */
export class LatencyByModel {
  private readonly windows = new Map<string, LatencyWindow>();

  get(model: string): LatencyWindow | undefined {
    return this.windows.get(model);
  }

  push(model: string, ms: number): void {
    let w = this.windows.get(model);
    if (w === undefined) {
      if (this.windows.size >= MAX_MODELS) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(model, (w = new LatencyWindow()));
    }
    w.push(ms);
  }
}

/** Before anything is measured: long enough not to hedge a slow but normal first request. */
export const COLD_HEDGE_MS = 8_000;

/**
 * How long a request waits for first content before it is hedged: the fixed `after_ms`, or the endpoint's p95 for
 * the model, else the pool's p95 for the model, else COLD_HEDGE_MS; always within min_ms..max_ms.
 */
export function hedgeDelayMs(settings: HedgeSettings, endpointWindow: LatencyWindow | undefined, poolWindow: LatencyWindow | undefined): number {
  if (settings.after_ms !== 'auto') return settings.after_ms;
  const measured = endpointWindow?.quantile() ?? poolWindow?.quantile() ?? COLD_HEDGE_MS;
  return Math.round(Math.min(settings.max_ms, Math.max(settings.min_ms, measured)));
}
