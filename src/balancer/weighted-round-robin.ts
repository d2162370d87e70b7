import { availableOnly, type Strategy, type StrategyFactory } from './types.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every candidate's weight to its running
 * score, takes the highest, and subtracts the total from the winner. Weights 5:1:1 give a,a,b,a,c,a,a —
 * interleaved rather than five in a row.
 */
export const weightedRoundRobin: StrategyFactory = (): Strategy => {
  const current = new Map<string, number>();
  return {
    name: 'weighted-round-robin',
    pick(views) {
      const candidates = availableOnly(views);
      if (candidates.length === 0) return undefined;
      let total = 0;
      let best = candidates[0]!;
      let bestScore = -Infinity;
      for (const v of candidates) {
        const score = (current.get(v.id) ?? 0) + v.weight;
        current.set(v.id, score);
        total += v.weight;
        if (score > bestScore) {
          bestScore = score;
          best = v;
        }
      }
      current.set(best.id, bestScore - total);
      // Forget endpoints that are gone so the map cannot grow with config churn.
      if (current.size > views.length * 2) {
        const ids = new Set(views.map((v) => v.id));
        for (const id of current.keys()) if (!ids.has(id)) current.delete(id);
      }
      return best;
    },
  };
};
