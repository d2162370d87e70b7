import { availableOnly, type Strategy, type StrategyFactory } from './types.js';

/**
 * Fewest in-flight requests per unit of weight. Ties (common when idle) are broken by a weighted draw among the
 * tied, so an idle pool still honours weights instead of always choosing the first endpoint.
 */
export const leastConnections: StrategyFactory = ({ random }): Strategy => ({
  name: 'least-connections',
  pick(views) {
    const candidates = availableOnly(views);
    if (candidates.length === 0) return undefined;
    let bestLoad = Infinity;
    let tied: typeof candidates = [];
    for (const v of candidates) {
      const load = v.inflight / v.weight;
      if (load < bestLoad - 1e-9) {
        bestLoad = load;
        tied = [v];
      } else if (Math.abs(load - bestLoad) <= 1e-9) {
        tied.push(v);
      }
    }
    if (tied.length === 1) return tied[0];
    let total = 0;
    for (const v of tied) total += v.weight;
    let r = random() * total;
    for (const v of tied) {
      r -= v.weight;
      if (r < 0) return v;
    }
    return tied[tied.length - 1];
  },
});
