import { endpointBaseUrl, endpointKeys, type EndpointConfig } from '../config/schema.js';
import type { Penalty } from './penalty.js';
import { upstreamModelName } from '../config/cloud-models.js';
import { matchesModel } from '../config/model-patterns.js';
import { upstreamTarget, type UpstreamTarget } from './upstream-url.js';
import { Breaker, type BreakerTransition } from './breaker.js';
import { endpointRoute, type EndpointRoute, type ProxyEnvironment } from './route.js';
import { KeyPool, type KeyProblem } from './key-pool.js';
import { ewma, SUCCESS_ALPHA, TTFB_ALPHA, weightFactor } from './weight.js';
import { LatencyByModel } from './first-content.js';

import type { EndpointState } from '../shared/api-types.js';

export type { EndpointState };

/** What decides an endpoint's route besides its own `proxy`: the config's default and the process environment. */
export interface Routing {
  defaultProxy: string | undefined;
  env: ProxyEnvironment;
}

/** No default proxy and no proxy variables: every endpoint is reached directly unless it names a proxy itself. */
export const NO_ROUTING: Routing = { defaultProxy: undefined, env: {} };

/** Hedges lost in a row for want of a first token before the endpoint is cooled down. */
export const STALLS_TO_COOL = 3;

/** Runtime state of one endpoint. It never lives in the config object; a config reload keeps it by id. */
export class EndpointRuntime {
  config: EndpointConfig;
  target: UpstreamTarget;
  /** Direct or through a proxy; decided when the config is applied. */
  route: EndpointRoute;
  keys: KeyPool;
  readonly breaker: Breaker;
  inflight = 0;
  requests = 0;
  failures = 0;
  successEwma = 1;
  ttfbEwmaMs: number | undefined;
  /** 0–100 from active health checks; undefined until one has run. */
  healthScore: number | undefined;
  slowStartSince: number | undefined;
  /** In the failure queue, waiting for a recovery check. */
  queued = false;
  lastError: string | undefined;
  /** Time to first content by model: the adaptive hedge delay reads it. */
  readonly firstContent = new LatencyByModel();
  /** Hedges this endpoint lost for being slow, in a row (a success resets it). */
  consecutiveStalls = 0;
  /** Hedges lost for being slow, ever (for status and metrics). */
  stalls = 0;
  private keysSignature: string;
  /** Told when one of its keys is set aside or works again here (cluster/ tells the other replicas). */
  onKeyChange: ((endpoint: EndpointRuntime, key: string, problem: KeyProblem | undefined, until: number) => void) | undefined;
  /**
   * Told when a failure here lengthens the breaker's run of consecutive failures without opening it (`penalty`), and
   * when a success ends such a run (`undefined`): cluster/ tells the other replicas, whose breakers count the run too.
   * Not per request: a success is told only when it ends a run.
   */
  onFailureRun: ((endpoint: EndpointRuntime, penalty: Penalty | undefined) => void) | undefined;

  constructor(config: EndpointConfig, routing: Routing = NO_ROUTING, onTransition?: (id: string, t: BreakerTransition) => void) {
    this.config = config;
    this.target = upstreamTarget(endpointBaseUrl(config));
    this.route = endpointRoute(endpointBaseUrl(config), config.proxy, routing.defaultProxy, routing.env);
    this.keys = new KeyPool(endpointKeys(config));
    this.keysSignature = endpointKeys(config).join('\n');
    this.breaker = new Breaker(undefined, onTransition ? (t) => onTransition(config.id, t) : undefined);
  }

  get id(): string {
    return this.config.id;
  }

  /** Apply a new config for the same id, keeping counters and breaker; key state resets only if keys changed. */
  reconfigure(config: EndpointConfig, routing: Routing = NO_ROUTING): void {
    this.config = config;
    this.target = upstreamTarget(endpointBaseUrl(config));
    this.route = endpointRoute(endpointBaseUrl(config), config.proxy, routing.defaultProxy, routing.env);
    const signature = endpointKeys(config).join('\n');
    if (signature !== this.keysSignature) {
      this.keys = new KeyPool(endpointKeys(config));
      this.keysSignature = signature;
    }
  }

  /**
   * It authenticates with a credential of its own (a key, or a cloud's signature or token) rather than the
   * client's: a 401/403 is then its problem, not the client's, and another endpoint is tried.
   */
  get ownsCredential(): boolean {
    // A cloud endpoint always has a pool (its one profile or file, or the default chain, is a pool of one).
    return !this.keys.passThrough;
  }

  servesModel(model: string | undefined): boolean {
    if (model === undefined) return true;
    // A cloud endpoint serves what it has a name for (config/cloud-models.ts); the others, anything.
    return this.servesModelName(model) && upstreamModelName(this.config, model) !== undefined;
  }

  /** Its `models` list allows the name (an empty list allows every name). */
  servesModelName(model: string): boolean {
    const { models } = this.config;
    return models.length === 0 || matchesModel(models, model);
  }

  /** The model name this endpoint is sent: its model_map's, its cloud's id, or the client's as it is. */
  upstreamModel(model: string): string {
    return upstreamModelName(this.config, model) ?? model;
  }

  atCapacity(): boolean {
    const max = this.config.max_concurrency;
    return max !== undefined && this.inflight >= max;
  }

  /** Can this endpoint take a request right now? (May move its breaker from open to half-open.) */
  usable(now: number): boolean {
    return this.config.enabled && !this.atCapacity() && this.keys.hasUsable(now) && this.breaker.canServe(now);
  }

  /** Milliseconds until it could serve again; 0 if it can now. For failing open when everything is down. */
  msUntilUsable(now: number): number {
    return Math.max(this.breaker.msUntilRetry(now), this.keys.msUntilUsable(now));
  }

  state(now: number): EndpointState {
    if (!this.config.enabled) return 'disabled';
    if (this.queued) return 'queued';
    if (this.breaker.state === 'half-open') return 'half-open';
    if (this.breaker.state === 'open') {
      const c = this.breaker.cause;
      return c === 'overload' ? 'cooling' : 'open';
    }
    if (!this.keys.hasUsable(now)) return 'cooling';
    return 'healthy';
  }

  effectiveWeight(now: number, bestTtfbMs: number | undefined): number {
    const factor = weightFactor({
      successEwma: this.successEwma,
      ttfbEwmaMs: this.ttfbEwmaMs,
      bestTtfbMs,
      healthScore: this.healthScore,
      slowStartSince: this.slowStartSince,
      now,
    });
    return this.config.weight * factor;
  }

  recordSuccess(ttfbMs: number, keyIndex: number | undefined): void {
    this.consecutiveStalls = 0;
    this.successEwma = ewma(this.successEwma, 1, SUCCESS_ALPHA);
    this.ttfbEwmaMs = ewma(this.ttfbEwmaMs, ttfbMs, TTFB_ALPHA);
    if (keyIndex !== undefined && this.keys.clear(keyIndex) && this.onKeyChange) this.onKeyChange(this, this.keys.keyAt(keyIndex)!, undefined, 0);
    const endedRun = this.breaker.consecutiveFailures > 0 && this.breaker.state === 'closed';
    this.breaker.recordSuccess();
    if (endedRun) this.onFailureRun?.(this, undefined);
  }

  /**
   * Record what went wrong. Key problems (401/403/402/429) set the key aside and leave the breaker alone:
   * the endpoint itself may be fine with another key.
   */
  recordFailure(penalty: Penalty, now: number, keyIndex: number | undefined, retryAfterSeconds: number | undefined): void {
    this.failures++;
    if (penalty === 'auth' || penalty === 'rate-limit' || penalty === 'spend-limit') {
      this.breaker.release();
      if (keyIndex !== undefined) {
        const problem = penalty === 'auth' ? 'rejected' : penalty === 'spend-limit' ? 'spent' : 'rate-limited';
        const until = this.keys.report(keyIndex, problem, now, retryAfterSeconds);
        if (until !== undefined && this.onKeyChange) this.onKeyChange(this, this.keys.keyAt(keyIndex)!, problem, until);
      }
      return;
    }
    this.successEwma = ewma(this.successEwma, 0, SUCCESS_ALPHA);
    const wasClosed = this.breaker.state === 'closed';
    this.breaker.recordFailure(penalty, now);
    // Opened: the transition itself is what the others hear. Half-open or open: a trial's verdict, not a run.
    if (wasClosed && this.breaker.state === 'closed') this.onFailureRun?.(this, penalty);
  }

  /**
   * A hedge overtook this endpoint: it had waited `waitedMs` without a first token. That wait is a lower bound of
   * its latency and goes into the measured latency (so `fastest` and dynamic weights move away); it is not a
   * failure. STALLS_TO_COOL in a row are: the breaker opens, as for any run of failures.
   */
  recordStall(waitedMs: number, now: number): void {
    this.stalls++;
    this.consecutiveStalls++;
    this.ttfbEwmaMs = ewma(this.ttfbEwmaMs, waitedMs, TTFB_ALPHA);
    this.breaker.release();
    if (this.consecutiveStalls >= STALLS_TO_COOL) {
      this.consecutiveStalls = 0;
      this.failures++;
      this.successEwma = ewma(this.successEwma, 0, SUCCESS_ALPHA);
      if (this.breaker.state === 'closed') this.breaker.open('stall', now);
      else this.breaker.recordFailure('stall', now);
    }
  }

  /** A recovery or health check passed: close the breaker and ramp traffic back up slowly. */
  restore(now: number): void {
    const wasDown = this.breaker.state !== 'closed' || this.queued;
    this.queued = false;
    this.breaker.reset();
    this.successEwma = Math.max(this.successEwma, 0.8);
    if (wasDown) this.slowStartSince = now;
  }
}
