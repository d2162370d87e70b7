import { availableOnly, weightedDraw, type Strategy, type StrategyFactory } from './types.js';

/** Share of picks spent exploring, so a recovered or new endpoint gets measured and can win again. */
export const EXPLORATION = 0.1;

/**
 * Response time first: the lowest EWMA time-to-first-byte, with weight as the tie-breaker (a time scaled down
 * by weight, so a heavier endpoint wins small differences). Unmeasured endpoints are tried first; otherwise a
 * small share of picks is a weighted draw among the rest.
 */
export const fastest: StrategyFactory = ({ random }): Strategy => ({
  name: 'fastest',
  pick(views) {
    const candidates = availableOnly(views);
    if (candidates.length === 0) return undefined;
    const unmeasured = candidates.filter((v) => v.ttfbMs === undefined);
    if (unmeasured.length > 0) return weightedDraw(unmeasured, random);
    let best = candidates[0]!;
    let bestScore = Infinity;
    for (const v of candidates) {
      const score = v.ttfbMs! / v.weight;
      if (score < bestScore) {
        bestScore = score;
        best = v;
      }
    }
    if (candidates.length > 1 && random() < EXPLORATION) {
      return weightedDraw(candidates.filter((v) => v !== best), random) ?? best;
    }
    return best;
  },
});
