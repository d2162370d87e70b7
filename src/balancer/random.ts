import { availableOnly, weightedDraw, type Strategy, type StrategyFactory } from './types.js';

/** Weighted random: stateless, and statistically fair over many picks. */
export const random: StrategyFactory = ({ random: draw }): Strategy => ({
  name: 'random',
  pick(views) {
    return weightedDraw(availableOnly(views), draw);
  },
});
