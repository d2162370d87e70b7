import { availableOnly, weightedDraw, type Strategy, type StrategyFactory } from './types.js';

/**
 * Tiers: the lowest `priority` number that has a usable endpoint serves, weighted inside the tier; the next tier
 * only when the whole tier is unusable. The "fallback chain": primary, then backup, then last resort.
 */
export const priority: StrategyFactory = ({ random }): Strategy => ({
  name: 'priority',
  pick(views) {
    const candidates = availableOnly(views);
    if (candidates.length === 0) return undefined;
    let top = Infinity;
    for (const v of candidates) top = Math.min(top, v.priority);
    return weightedDraw(candidates.filter((v) => v.priority === top), random);
  },
});
