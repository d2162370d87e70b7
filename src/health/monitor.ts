import type { Upstream } from '../upstream/client.js';
import type { HealthSettings } from '../config/schema.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { QueueTimers } from '../endpoints/failure-queue.js';
import type { ProxyObserver } from '../proxy/events.js';
import { runHealthCheck, type CheckResult } from './check.js';
import { HealthHistory } from './history.js';
import { meanScore, SCORE_WINDOW, scoreChecks, type ScoreParts } from './score.js';
import { Semaphore } from './semaphore.js';

export interface HealthMonitorDeps {
  dispatcher: Upstream;
  endpoints: () => readonly EndpointRuntime[];
  settings: () => HealthSettings;
  now: () => number;
  timers: QueueTimers;
  random: () => number;
  /** Health-check traffic is reported like requests, marked, so stats count its tokens and cost apart. */
  observer?: ProxyObserver | undefined;
  /** Replaces the real check (tests of the schedule). */
  check?: (endpoint: EndpointRuntime, model: string) => Promise<CheckResult>;
}

export interface ModelHealth extends Partial<ScoreParts> {
  model: string;
  last: CheckResult | null;
}

/**
 * Runs health checks: on demand (`qcc health`, the dashboard's "test now", the failure queue) and on a
 * schedule for healthy endpoints. Never more than one check of an endpoint at a time, a small global bound
 * on checks at once, and no child processes: a check is one HTTP request.
 */
/** How soon an endpoint added to a running proxy gets its first check. */
const NEW_ENDPOINT_CHECK_MS = 500;

export class HealthMonitor {
  private readonly windows = new Map<string, CheckResult[]>();
  private readonly running = new Map<string, Promise<CheckResult[]>>();
  private readonly timers = new Map<string, unknown>();
  private readonly semaphore: Semaphore;
  readonly history = new HealthHistory();
  private stopped = true;
  /** Started and scheduled once: endpoints that appear from now on are new. */
  private scheduling = false;
  /** Told of every check this replica ran (cluster/ shares the results, so one replica checks for all). */
  onChecked: ((endpoint: EndpointRuntime, result: CheckResult) => void) | undefined;

  constructor(private readonly deps: HealthMonitorDeps) {
    this.semaphore = new Semaphore(() => deps.settings().concurrency);
  }

  /** The models checked for an endpoint: its override, else the configured ones it serves, else its first. */
  modelsFor(endpoint: EndpointRuntime): string[] {
    const { health_models: own, models } = endpoint.config;
    if (own) return own;
    const defaults = this.deps.settings().models;
    if (models.length === 0) return defaults;
    const served = defaults.filter((m) => models.includes(m));
    return served.length > 0 ? served : [models[0]!];
  }

  /** Check an endpoint now (joining a check already running for it). */
  checkEndpoint(endpoint: EndpointRuntime, models = this.modelsFor(endpoint)): Promise<CheckResult[]> {
    const existing = this.running.get(endpoint.id);
    if (existing) return existing;
    const run = (async () => {
      const results: CheckResult[] = [];
      for (const model of models) {
        const result = await this.semaphore.run(() => this.runOne(endpoint, model));
        this.record(endpoint, result);
        results.push(result);
      }
      return results;
    })().finally(() => this.running.delete(endpoint.id));
    this.running.set(endpoint.id, run);
    return run;
  }

  private runOne(endpoint: EndpointRuntime, model: string): Promise<CheckResult> {
    if (this.deps.check) return this.deps.check(endpoint, model);
    const s = this.deps.settings();
    return runHealthCheck(this.deps.dispatcher, endpoint, model, { timeoutMs: s.timeout_ms, maxTokens: s.max_tokens });
  }

  /** A check another replica ran: scored and shown here as if run here, but logged only by the replica that ran it. */
  adopt(endpoint: EndpointRuntime, result: CheckResult): void {
    this.score(endpoint, result);
  }

  private score(endpoint: EndpointRuntime, result: CheckResult): void {
    const key = `${endpoint.id}\u0000${result.model}`;
    const window = this.windows.get(key) ?? [];
    window.push(result);
    if (window.length > SCORE_WINDOW) window.shift();
    this.windows.set(key, window);
    endpoint.healthScore = this.endpointScore(endpoint.id);
    this.history.add(endpoint.id, result, endpoint.healthScore);
  }

  private record(endpoint: EndpointRuntime, result: CheckResult): void {
    this.score(endpoint, result);
    this.onChecked?.(endpoint, result);
    this.deps.observer?.requestFinished({
      requestId: `hc_${endpoint.id}_${result.at}`,
      startedAt: result.at,
      method: 'POST',
      path: '/v1/messages',
      model: result.model,
      stream: true,
      sessionId: undefined,
      endpointId: endpoint.id,
      attempts: [{ endpointId: endpoint.id, ms: result.total_ms, ...(result.status !== null && { status: result.status }), ...(result.error !== null && { error: result.error.slice(0, 80) }) }],
      status: result.status ?? 0,
      ttfbMs: result.ttft_ms ?? undefined,
      totalMs: result.total_ms,
      usage: result.usage ?? undefined,
      end: result.ok ? 'complete' : undefined,
      errorCode: result.ok ? undefined : 'healthCheckFailed',
      healthCheck: true,
    });
  }

  endpointScore(id: string): number | undefined {
    const scores: number[] = [];
    for (const [key, checks] of this.windows) {
      if (!key.startsWith(`${id}\u0000`)) continue;
      const s = scoreChecks(checks);
      if (s) scores.push(s.score);
    }
    return meanScore(scores);
  }

  modelHealth(endpoint: EndpointRuntime): ModelHealth[] {
    return this.modelsFor(endpoint).map((model) => {
      const checks = this.windows.get(`${endpoint.id}\u0000${model}`) ?? [];
      return { model, last: checks.at(-1) ?? null, ...scoreChecks(checks) };
    });
  }

  lastCheck(id: string): CheckResult | undefined {
    let last: CheckResult | undefined;
    for (const [key, checks] of this.windows) {
      const c = checks.at(-1);
      if (key.startsWith(`${id}\u0000`) && c && (!last || c.at > last.at)) last = c;
    }
    return last;
  }

  /** Start periodic checks of healthy endpoints (queued ones are the failure queue's to check). */
  start(): void {
    this.stopped = false;
    this.reschedule();
    this.scheduling = true;
  }

  /** Re-plan timers after a config change: new endpoints get one, removed ones lose theirs. */
  reschedule(): void {
    if (this.stopped) return;
    const ids = new Set(this.deps.endpoints().map((e) => e.id));
    for (const [id, t] of this.timers) {
      if (!ids.has(id)) {
        this.deps.timers.clearTimeout(t);
        this.timers.delete(id);
      }
    }
    // At start every endpoint waits its interval; one added while running is checked at once, so its state and
    // score mean something from the start (not after the first five minutes).
    for (const e of this.deps.endpoints()) if (!this.timers.has(e.id)) this.scheduleNext(e.id, this.scheduling ? NEW_ENDPOINT_CHECK_MS : undefined);
  }

  /** Periodic checks are scheduled (started and not stopped). */
  get started(): boolean {
    return !this.stopped;
  }

  stop(): void {
    this.stopped = true;
    this.scheduling = false;
    for (const t of this.timers.values()) this.deps.timers.clearTimeout(t);
    this.timers.clear();
  }

  private scheduleNext(id: string, soon?: number): void {
    const interval = this.deps.settings().interval_s * 1000;
    if (this.stopped || interval <= 0) return;
    const jittered = soon ?? interval * (0.9 + 0.2 * this.deps.random());
    this.timers.set(
      id,
      this.deps.timers.setTimeout(() => void this.periodic(id), jittered),
    );
  }

  private async periodic(id: string): Promise<void> {
    const endpoint = this.deps.endpoints().find((e) => e.id === id);
    if (!endpoint) return void this.timers.delete(id);
    try {
      if (endpoint.config.enabled && !endpoint.queued) this.applyVerdict(endpoint, await this.checkEndpoint(endpoint));
    } finally {
      this.timers.delete(id);
      this.scheduleNext(id);
    }
  }

  /**
   * What a periodic check means for routing. A pass closes an open breaker (a breaker that no passing check
   * could reset once starved healthy endpoints). A check the endpoint could not answer at all counts as a
   * failure; a wrong answer lowers the score, and so the weight, without ejecting the endpoint.
   */
  private applyVerdict(endpoint: EndpointRuntime, results: CheckResult[]): void {
    const now = this.deps.now();
    if (results.some((r) => r.ok)) {
      if (endpoint.breaker.state !== 'closed') endpoint.restore(now);
      return;
    }
    if (results.every((r) => r.status === null || r.status >= 500)) endpoint.recordFailure('server', now, undefined, undefined);
  }
}
