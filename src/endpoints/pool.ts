import type { Config, StrategyName } from '../config/schema.js';
import { createStrategy, type EndpointView, type Strategy } from '../balancer/index.js';
import type { BreakerTransition } from './breaker.js';
import { EndpointRuntime, type Routing } from './endpoint.js';
import type { ProxyEnvironment } from './route.js';
import { SessionAffinity } from './affinity.js';
import { LatencyByModel } from './first-content.js';

export interface PoolDeps {
  now: () => number;
  random: () => number;
  onTransition?: (endpointId: string, t: BreakerTransition) => void;
  /** A key of an endpoint was set aside, or worked again (see EndpointRuntime.onKeyChange). */
  onKeyChange?: EndpointRuntime['onKeyChange'];
  /** A run of consecutive failures grew or ended (see EndpointRuntime.onFailureRun). */
  onFailureRun?: EndpointRuntime['onFailureRun'];
  /** Proxy variables (`HTTPS_PROXY`, `NO_PROXY`, …) that route endpoints without a proxy setting; none when absent. */
  env?: ProxyEnvironment;
}

/** Models whose candidate lists are kept (names come from clients, so the memory is bounded). */
const MAX_CACHED_MODELS = 256;

/** One pick in a plan: which endpoint, and whether it was taken only because everything else was down. */
export interface PlannedAttempt {
  endpoint: EndpointRuntime;
  failOpen: boolean;
}

/**
 * The endpoints and their runtime state. A config reload keeps each endpoint's state by id, so in-flight
 * requests, breakers and measurements survive it.
 */
export class EndpointPool {
  private runtimes = new Map<string, EndpointRuntime>();
  private ordered: EndpointRuntime[] = [];
  private strategy!: Strategy;
  private sessionAffinity = true;
  /**
   * Per model, the enabled endpoints that serve it, in config order. Both depend on the config alone, so the
   * lists are kept until the next `update`: a plan then looks only at its candidates, not at every endpoint
   * (the benchmark's config has 54, most of them for other models).
   */
  private readonly candidates = new Map<string | undefined, readonly EndpointRuntime[]>();
  readonly affinity = new SessionAffinity();
  /** Time to first content by model across endpoints: the hedge delay for an endpoint not yet measured. */
  readonly firstContent = new LatencyByModel();

  constructor(
    config: Config,
    private readonly deps: PoolDeps,
  ) {
    this.update(config);
  }

  update(config: Config): void {
    const next = new Map<string, EndpointRuntime>();
    const routing: Routing = { defaultProxy: config.proxy.upstream_proxy, env: this.deps.env ?? {} };
    for (const e of config.endpoints) {
      const existing = this.runtimes.get(e.id);
      existing?.reconfigure(e, routing);
      if (existing) {
        next.set(e.id, existing);
      } else {
        const created = new EndpointRuntime(e, routing, this.deps.onTransition);
        created.onKeyChange = this.deps.onKeyChange;
        created.onFailureRun = this.deps.onFailureRun;
        next.set(e.id, created);
      }
    }
    this.runtimes = next;
    this.ordered = [...next.values()];
    this.candidates.clear();
    if (this.strategy?.name !== config.proxy.strategy) this.strategy = this.makeStrategy(config.proxy.strategy);
    this.sessionAffinity = config.proxy.session_affinity;
  }

  get(id: string): EndpointRuntime | undefined {
    return this.runtimes.get(id);
  }

  all(): readonly EndpointRuntime[] {
    return this.ordered;
  }

  get strategyName(): StrategyName {
    return this.strategy.name;
  }

  private candidatesFor(model: string | undefined): readonly EndpointRuntime[] {
    let list = this.candidates.get(model);
    if (list === undefined) {
      if (this.candidates.size >= MAX_CACHED_MODELS) this.candidates.clear();
      list = this.ordered.filter((e) => e.config.enabled && e.servesModel(model));
      this.candidates.set(model, list);
    }
    return list;
  }

  /** The fastest measured time to first byte in the pool: the yardstick for latency-scaled weights. */
  bestTtfb(): number | undefined {
    let best: number | undefined;
    for (const e of this.ordered) if (e.ttfbEwmaMs !== undefined && (best === undefined || e.ttfbEwmaMs < best)) best = e.ttfbEwmaMs;
    return best;
  }

  /**
   * Candidates for one request, in the order to try them. Lazy: each call sees the state as it is then (an
   * endpoint that just failed for someone else is skipped). Each endpoint at most once.
   */
  /** `only`: the endpoints a client key may use (absent: all). */
  plan(model: string | undefined, sessionId: string | undefined, only?: readonly string[]): () => PlannedAttempt | undefined {
    const tried = new Set<string>();
    let picks = 0;
    // The session's last stream broke on this endpoint: its next request goes elsewhere while anything else can serve.
    let avoided = sessionId === undefined ? undefined : this.affinity.takeAvoided(sessionId, this.deps.now());
    if (avoided !== undefined) tried.add(avoided);
    return () => {
      const now = this.deps.now();
      if (picks === 0 && avoided === undefined && sessionId !== undefined && this.sessionAffinity) {
        const sticky = this.runtimes.get(this.affinity.get(sessionId) ?? '');
        if (sticky && sticky.servesModel(model) && sticky.usable(now) && (only === undefined || only.includes(sticky.id))) {
          tried.add(sticky.id);
          picks++;
          return { endpoint: sticky, failOpen: false };
        }
      }
      const candidates = only === undefined ? this.candidatesFor(model) : this.candidatesFor(model).filter((e) => only.includes(e.id));
      let eligible = tried.size === 0 ? candidates : candidates.filter((e) => !tried.has(e.id));
      const best = this.bestTtfb();
      const pick = (): EndpointRuntime | undefined => {
        if (eligible.length === 0) return undefined;
        const views: EndpointView[] = eligible.map((e) => ({
          id: e.id,
          weight: e.effectiveWeight(now, best),
          inflight: e.inflight,
          ttfbMs: e.ttfbEwmaMs,
          priority: e.config.priority,
          available: e.usable(now),
        }));
        const picked = this.strategy.pick(views);
        return picked ? this.runtimes.get(picked.id) : undefined;
      };
      let picked = pick();
      if (!picked && avoided !== undefined) {
        // Nothing else can serve: the avoided endpoint is better than no answer.
        tried.delete(avoided);
        avoided = undefined;
        eligible = candidates.filter((e) => !tried.has(e.id));
        picked = pick();
      }
      if (picked) {
        tried.add(picked.id);
        picks++;
        return { endpoint: picked, failOpen: false };
      }
      // Everything is open or cooling: fail open on the endpoint that recovers soonest rather than refuse.
      // Only as a first attempt, so an outage never multiplies traffic; full endpoints are never queued behind.
      if (picks > 0) return undefined;
      let soonest: EndpointRuntime | undefined;
      for (const e of eligible) {
        if (e.atCapacity()) continue;
        if (!soonest || e.msUntilUsable(now) < soonest.msUntilUsable(now)) soonest = e;
      }
      if (!soonest) return undefined;
      tried.add(soonest.id);
      picks++;
      return { endpoint: soonest, failOpen: true };
    };
  }

  private makeStrategy(name: StrategyName): Strategy {
    return createStrategy(name, { random: this.deps.random });
  }
}
