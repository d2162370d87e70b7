import { endpointBaseUrl } from '../config/schema.js';
import type { EndpointStatus } from '../shared/api-types.js';
import type { EndpointPool } from './pool.js';
import { routeInfo } from './route.js';

export type { EndpointStatus };

/** What status shows of an endpoint's last health check (health/check.ts's result has these fields and more). */
export interface LastCheck {
  at: number;
  model: string;
  ok: boolean;
  ttft_ms: number | null;
  error: string | null;
}

export function describeEndpoints(pool: EndpointPool, now: number, lastCheck: (id: string) => LastCheck | undefined = () => undefined): EndpointStatus[] {
  const best = pool.bestTtfb();
  return pool.all().map((e) => ({
    id: e.id,
    base_url: endpointBaseUrl(e.config),
    enabled: e.config.enabled,
    state: e.state(now),
    priority: e.config.priority,
    weight: e.config.weight,
    effective_weight: round(e.effectiveWeight(now, best)),
    inflight: e.inflight,
    requests: e.requests,
    errors: e.failures,
    stalls: e.stalls,
    simulated: e.config.simulated === true,
    ttfb_ewma_ms: e.ttfbEwmaMs === undefined ? null : round(e.ttfbEwmaMs),
    consecutive_failures: e.breaker.consecutiveFailures,
    cooldown_left_ms: Math.round(e.msUntilUsable(now)),
    keys_total: e.keys.size,
    keys_usable: e.keys.passThrough ? null : e.keys.usableCount(now),
    health_score: e.healthScore ?? null,
    last_error: e.lastError ?? null,
    route: routeInfo(e.route),
    last_check: checkSummary(lastCheck(e.id)),
  }));
}

function checkSummary(c: LastCheck | undefined): EndpointStatus['last_check'] {
  return c ? { at: new Date(c.at).toISOString(), model: c.model, ok: c.ok, ttft_ms: c.ttft_ms, error: c.error } : null;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
