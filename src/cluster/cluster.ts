import type { EndpointPool } from '../endpoints/pool.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { BreakerTransition } from '../endpoints/breaker.js';
import type { KeyProblem } from '../endpoints/key-pool.js';
import type { FailureQueue } from '../endpoints/failure-queue.js';
import type { Penalty } from '../endpoints/penalty.js';
import type { RetryBudget } from '../endpoints/retry-budget.js';
import type { HealthMonitor } from '../health/monitor.js';
import type { KeyLimiter } from '../keys/limiter.js';
import type { Logger } from '../log.js';
import type { StateStoreStatus } from '../shared/api-types.js';
import type { Config } from '../config/schema.js';
import { ConfigSync } from './config-sync.js';
import { EndpointSync } from './endpoint-sync.js';
import { Lease } from './lease.js';
import { RedisLink } from './redis-link.js';
import type { StoreSettings } from './settings.js';
import { SharedLimiter } from './shared-limiter.js';

export interface ClusterDeps {
  settings: StoreSettings & { redis: NonNullable<StoreSettings['redis']> };
  pool: EndpointPool;
  health: HealthMonitor;
  queue: FailureQueue;
  budget: RetryBudget;
  limiter: KeyLimiter;
  now: () => number;
  logger: Logger;
  /** The config in force, when this replica's file last changed, and how to apply one another replica shared. */
  config: { current: () => Config; fileChangedAt: () => number | undefined; adopt: (config: Config, replacing: boolean) => void };
}

/**
 * One replica's part in a deployment sharing Redis (issue #24): the link, the endpoint state it replicates, the
 * shared client-key limits and the health lease, and what changes when Redis goes away or comes back.
 *
 * - Redis up: routing state arrives from the others as it changes; limits are decided in Redis; health checks and
 *   failure-queue probes run on the lease holder only.
 * - Redis down: nothing waits for it. The replica routes on what it knows, enforces limits alone and runs its own
 *   health checks (a replica nobody checks for would never bring an endpoint back).
 * - Redis back: the replica merges (the shared snapshot in, its own observations and admissions out) and the lease
 *   decides again who checks.
 */
export class Cluster {
  readonly link: RedisLink;
  readonly limiter: SharedLimiter;
  private readonly sync: EndpointSync;
  private readonly lease: Lease;
  readonly config: ConfigSync;
  private started = false;
  private retry: NodeJS.Timeout | undefined;
  /** The merge running since Redis last came up: a starting replica serves once it is done. */
  private rejoining: Promise<void> | undefined;

  constructor(private readonly deps: ClusterDeps) {
    const { settings, logger } = deps;
    this.link = new RedisLink({ ...settings.redis, replicaId: settings.replicaId }, logger);
    this.limiter = new SharedLimiter(this.link, deps.limiter, logger);
    this.sync = new EndpointSync({ link: this.link, pool: deps.pool, health: deps.health, budget: deps.budget, now: deps.now, logger });
    this.config = new ConfigSync({ link: this.link, ...deps.config, logger });
    this.lease = new Lease(this.link, 'health', settings.redis.leaseMs, () => this.placeChecks(), logger);
    deps.health.onChecked = (endpoint, result) => {
      if (this.lease.held) this.sync.checked(endpoint, result);
    };
    this.link.onState((up) => {
      if (up) {
        this.rejoining = this.rejoin();
        this.lease.attemptNow();
      } else {
        this.lease.lost();
      }
      this.placeChecks();
    });
  }

  /** Connect; resolves when Redis answered, or false after `waitMs` (the replica then starts alone and keeps trying). */
  async start(waitMs: number): Promise<boolean> {
    this.started = true;
    // Once a second: this replica says it is alive and counts the others (a lease of admissions takes a share of
    // what is left that shrinks with their number), and admissions a failed merge left behind are tried again.
    this.retry = setInterval(() => {
      if (!this.link.up) return;
      void this.countReplicas();
      if (this.limiter.pending > 0) void this.limiter.merge();
    }, 1_000);
    this.retry.unref();
    this.sync.start();
    this.lease.start();
    const up = await this.link.start(waitMs);
    // The shared config and endpoint state first, so the first request is routed as the others route it.
    if (up) await Promise.race([Promise.all([this.rejoining, this.countReplicas()]), new Promise((r) => setTimeout(r, waitMs).unref())]);
    this.placeChecks();
    return up;
  }

  breakerChanged(endpoint: EndpointRuntime, t: BreakerTransition): void {
    this.sync.breakerChanged(endpoint, t);
  }

  /** This replica's config changed here (dashboard, CLI, its file): the others apply it too. */
  configChanged(config: Config): void {
    this.config.changed(config);
  }

  keyChanged(endpoint: EndpointRuntime, key: string, problem: KeyProblem | undefined, until: number): void {
    this.sync.keyChanged(endpoint, key, problem, until);
  }

  failureRun(endpoint: EndpointRuntime, penalty: Penalty | undefined): void {
    this.sync.failureRun(endpoint, penalty);
  }

  /** Does this replica run health checks and failure-queue probes now? */
  get checksHere(): boolean {
    return !this.link.up || this.lease.held;
  }

  describe(): StateStoreStatus {
    const link = this.link.describe();
    return {
      backend: 'redis',
      url: link.url,
      state: link.up ? 'connected' : 'degraded',
      since: link.since,
      error: link.error,
      limits: this.limiter.sharedNow() ? 'shared' : 'per-replica',
      health_checker: link.up ? (this.lease.holder ?? null) : this.deps.settings.replicaId,
      pending_merge: this.limiter.pending,
      config_version: this.config.appliedVersion,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.retry);
    this.limiter.close();
    this.sync.stop();
    await this.link.command(['ZREM', this.link.key('replicas'), this.deps.settings.replicaId], 500).catch(() => undefined);
    await this.lease.stop();
    await this.link.close();
  }

  private async countReplicas(): Promise<void> {
    const key = this.link.key('replicas');
    const now = Date.now();
    try {
      const [, , count] = await Promise.all([
        this.link.command(['ZADD', key, String(now), this.deps.settings.replicaId], 1_000),
        this.link.command(['ZREMRANGEBYSCORE', key, '-inf', String(now - 5_000)], 1_000),
        this.link.command(['ZCARD', key], 1_000),
      ]);
      if (typeof count === 'number' && count > 0) this.limiter.replicas = count;
    } catch {
      // Counted again next second.
    }
  }

  /** Checks run here when this replica holds the lease, or when Redis is away (each replica for itself). */
  private placeChecks(): void {
    if (!this.started) return;
    const { health, queue } = this.deps;
    if (this.checksHere) {
      if (!health.started) health.start();
      queue.resume();
    } else {
      if (health.started) health.stop();
      queue.pause();
    }
  }

  private async rejoin(): Promise<void> {
    try {
      // The config first: it may add or remove the endpoints whose state comes next.
      await this.config.merge();
      await this.sync.merge();
      await this.limiter.merge();
    } catch (e: unknown) {
      this.deps.logger.warn({ err: e }, 'could not merge with the shared state yet; the next reconnection tries again');
    }
  }
}
