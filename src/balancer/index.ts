import type { StrategyName } from '../config/schema.js';
import { fastest } from './fastest.js';
import { leastConnections } from './least-connections.js';
import { priority } from './priority.js';
import { random } from './random.js';
import type { StrategyDeps, Strategy, StrategyFactory } from './types.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

export const STRATEGY_FACTORIES: Record<StrategyName, StrategyFactory> = {
  'weighted-round-robin': weightedRoundRobin,
  'least-connections': leastConnections,
  fastest,
  priority,
  random,
};

export function createStrategy(name: StrategyName, deps: StrategyDeps): Strategy {
  return STRATEGY_FACTORIES[name](deps);
}

export type { EndpointView, Strategy, StrategyDeps } from './types.js';
