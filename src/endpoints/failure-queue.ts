import type { EndpointRuntime } from './endpoint.js';

/**
 * QCC's failure queue (失败队列). An endpoint whose breaker opens for a cause of its own (not a cooling key)
 * joins the queue; a recovery worker verifies it on a backoff schedule with a real request and restores it when
 * the check passes. The queue is persisted, so a restart never strands an endpoint.
 */

export interface QueueTimers {
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
}

export interface FailureQueueDeps {
  now: () => number;
  timers: QueueTimers;
  /** A real, minimal request; resolves true when the endpoint answered properly. Must not throw. */
  check: (endpoint: EndpointRuntime) => Promise<boolean>;
  lookup: (id: string) => EndpointRuntime | undefined;
  /** Called with the queue's contents whenever they change, for persistence. */
  persist?: (entries: QueuedEndpoint[]) => void;
  onRestored?: (endpoint: EndpointRuntime) => void;
  onCheckFailed?: (endpoint: EndpointRuntime, nextInMs: number) => void;
}

export interface QueuedEndpoint {
  id: string;
  since: number;
  checks: number;
}

export interface FailureQueueSettings {
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Checks running at once, across all endpoints. */
  concurrency: number;
}

export const DEFAULT_QUEUE: FailureQueueSettings = { initialBackoffMs: 5_000, maxBackoffMs: 300_000, concurrency: 2 };

interface Entry extends QueuedEndpoint {
  nextAt: number;
  backoffMs: number;
  checking: boolean;
}

export class FailureQueue {
  private readonly entries = new Map<string, Entry>();
  private timer: unknown;
  private running = 0;
  private stopped = false;
  /** Checks are another replica's to run (it holds the health lease); entries are kept for when this one takes over. */
  private paused = false;

  constructor(
    private readonly deps: FailureQueueDeps,
    readonly settings: FailureQueueSettings = DEFAULT_QUEUE,
  ) {}

  has(id: string): boolean {
    return this.entries.has(id);
  }

  list(): (QueuedEndpoint & { nextCheckInMs: number })[] {
    const now = this.deps.now();
    return [...this.entries.values()].map((e) => ({ id: e.id, since: e.since, checks: e.checks, nextCheckInMs: Math.max(0, e.nextAt - now) }));
  }

  /** Add an endpoint; `firstCheckInMs` defaults to the initial backoff. Re-adding keeps its schedule. */
  enqueue(endpoint: EndpointRuntime, firstCheckInMs = this.settings.initialBackoffMs, restored?: QueuedEndpoint): void {
    endpoint.queued = true;
    if (this.entries.has(endpoint.id)) return;
    const now = this.deps.now();
    this.entries.set(endpoint.id, {
      id: endpoint.id,
      since: restored?.since ?? now,
      checks: restored?.checks ?? 0,
      nextAt: now + firstCheckInMs,
      backoffMs: this.settings.initialBackoffMs,
      checking: false,
    });
    this.changed();
  }

  /** Take an endpoint out (it recovered through live traffic, or was removed or disabled). */
  remove(id: string): void {
    const endpoint = this.deps.lookup(id);
    if (endpoint) endpoint.queued = false;
    if (this.entries.delete(id)) this.changed();
  }

  /** Run no checks (another replica does) until `resume`. */
  pause(): void {
    this.paused = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  get checking(): boolean {
    return !this.paused && !this.stopped;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private changed(): void {
    this.deps.persist?.(this.list().map(({ id, since, checks }) => ({ id, since, checks })));
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.paused) return;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    let soonest = Infinity;
    for (const e of this.entries.values()) if (!e.checking) soonest = Math.min(soonest, e.nextAt);
    if (soonest === Infinity) return;
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.runDue();
    }, Math.max(0, soonest - this.deps.now()));
  }

  private runDue(): void {
    const now = this.deps.now();
    for (const e of this.entries.values()) {
      if (this.running >= this.settings.concurrency) break;
      if (e.checking || e.nextAt > now) continue;
      const endpoint = this.deps.lookup(e.id);
      if (!endpoint || !endpoint.config.enabled) {
        this.entries.delete(e.id);
        continue;
      }
      e.checking = true;
      this.running++;
      void this.deps.check(endpoint).then((ok) => this.settle(e, endpoint, ok));
    }
    this.schedule();
  }

  private settle(e: Entry, endpoint: EndpointRuntime, ok: boolean): void {
    this.running--;
    e.checking = false;
    e.checks++;
    if (this.entries.get(e.id) !== e) return this.schedule(); // removed meanwhile
    if (ok) {
      this.entries.delete(e.id);
      endpoint.restore(this.deps.now());
      this.deps.onRestored?.(endpoint);
      this.changed();
      return;
    }
    e.backoffMs = Math.min(e.backoffMs * 2, this.settings.maxBackoffMs);
    e.nextAt = this.deps.now() + e.backoffMs;
    this.deps.onCheckFailed?.(endpoint, e.backoffMs);
    this.changed();
  }
}
