import { createHash } from 'node:crypto';
import type { EndpointPool } from '../endpoints/pool.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { BreakerTransition } from '../endpoints/breaker.js';
import type { KeyProblem } from '../endpoints/key-pool.js';
import type { RetryBudget } from '../endpoints/retry-budget.js';
import type { HealthMonitor } from '../health/monitor.js';
import type { CheckResult } from '../health/check.js';
import type { Penalty } from '../endpoints/penalty.js';
import type { Logger } from '../log.js';
import { hashFields, type ClusterMessage, type RedisLink } from './redis-link.js';
import { MAX_SHARED_SESSION_ID, SessionStore } from './session-store.js';

/**
 * What replicas tell each other about endpoints, so that a failure one of them sees changes routing on all.
 *
 * Replication by events, not remote reads: every replica routes on its own memory exactly as a lone qcc does (the
 * request path never waits for Redis), and each change worth sharing is published on one pub/sub channel as it
 * happens — a failure that lengthens a breaker's run of consecutive failures, a breaker opening or closing, a key
 * set aside or working again, a session's endpoint, a health check's result — and applied by the others within
 * milliseconds. Pub/sub rather than keyspace reads because it pushes: a
 * replica learns of a failure when it happens, with no polling and nothing added per request.
 *
 * Pub/sub delivers only to replicas connected at the time, so what must outlive a message (open breakers, keys set
 * aside, sessions' endpoints) is also written to Redis, read by a replica when it connects or reconnects: it then
 * merges back.
 * Measurements (time to first byte, success rate) and the retry budget's spending travel once a second.
 */

/** Shared routing state, by field: `breaker:ID` and `key:ID:FINGERPRINT`. */
const SNAPSHOT = 'endpoint-state';

interface BreakerEntry {
  cause: Penalty;
  until: number;
}

interface KeyEntry {
  problem: KeyProblem;
  until: number;
}

/** Keys are named between replicas by a fingerprint: a secret never leaves the replica that holds it. */
export function keyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 16);
}

const PENALTIES: readonly string[] = ['auth', 'rate-limit', 'spend-limit', 'overload', 'server', 'connect', 'timeout', 'broken-stream', 'stall'] satisfies Penalty[];
const KEY_PROBLEMS: readonly string[] = ['rejected', 'rate-limited', 'spent'];

export interface EndpointSyncDeps {
  link: RedisLink;
  pool: EndpointPool;
  health: HealthMonitor;
  budget: RetryBudget;
  now: () => number;
  logger: Logger;
}

export class EndpointSync {
  /** Set while applying another replica's change, so the local hooks it trips do not echo it back. */
  private applying = false;
  private readonly sent = new Map<string, number>();
  private budgetSent = { requests: 0, failovers: 0, hedges: 0 };
  private timer: NodeJS.Timeout | undefined;
  private readonly sessions: SessionStore;

  constructor(private readonly deps: EndpointSyncDeps) {
    this.sessions = new SessionStore(deps.link, deps.logger);
    deps.link.onMessage((m) => this.apply(m));
    deps.pool.affinity.listener = {
      set: (s, id) => {
        if (s.length > MAX_SHARED_SESSION_ID) return;
        this.send({ t: 'session', s, id });
        this.sessions.remember(s, id);
      },
      avoid: (s, id, until) => {
        if (s.length <= MAX_SHARED_SESSION_ID) this.send({ t: 'avoid', s, id, until });
      },
    };
  }

  start(): void {
    this.budgetSent = { ...this.deps.budget.local };
    this.timer = setInterval(() => this.tick(), 1_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.deps.pool.affinity.listener = undefined;
  }

  // ---- what happened here, told to the others ----

  breakerChanged(endpoint: EndpointRuntime, t: BreakerTransition): void {
    if (this.applying) return;
    const { link } = this.deps;
    if (t.to === 'open') {
      const entry: BreakerEntry = { cause: endpoint.breaker.cause ?? 'server', until: endpoint.breaker.openUntil };
      this.send({ t: 'open', id: endpoint.id, ...entry });
      this.write(['HSET', link.key(SNAPSHOT), `breaker:${endpoint.id}`, JSON.stringify(entry)]);
    } else if (t.to === 'closed') {
      this.send({ t: 'closed', id: endpoint.id });
      this.write(['HDEL', link.key(SNAPSHOT), `breaker:${endpoint.id}`]);
    }
  }

  keyChanged(endpoint: EndpointRuntime, key: string, problem: KeyProblem | undefined, until: number): void {
    if (this.applying) return;
    const fp = keyFingerprint(key);
    const field = `key:${endpoint.id}:${fp}`;
    this.send({ t: 'key', id: endpoint.id, fp, problem: problem ?? null, until });
    if (problem === undefined) this.write(['HDEL', this.deps.link.key(SNAPSHOT), field]);
    else this.write(['HSET', this.deps.link.key(SNAPSHOT), field, JSON.stringify({ problem, until } satisfies KeyEntry)]);
  }

  /**
   * A failure here lengthened the breaker's run (`penalty`), or a success ended it: the others' breakers count the
   * same run, so five failures spread over three replicas open the breaker as five on one would. (Opening is told by
   * breakerChanged.)
   */
  failureRun(endpoint: EndpointRuntime, penalty: Penalty | undefined): void {
    if (this.applying) return;
    this.send(penalty === undefined ? { t: 'run-ended', id: endpoint.id } : { t: 'failed', id: endpoint.id, cause: penalty });
  }

  /** This replica holds the health lease and ran a check: the others score it too (and spend no tokens on it). */
  checked(endpoint: EndpointRuntime, result: CheckResult): void {
    this.send({ t: 'check', id: endpoint.id, result });
  }

  /** Once a second: measurements of the endpoints this replica used, and the retry budget it spent. */
  private tick(): void {
    if (!this.deps.link.up) return;
    const measured: [string, number | null, number][] = [];
    for (const e of this.deps.pool.all()) {
      if (this.sent.get(e.id) === e.requests) continue;
      this.sent.set(e.id, e.requests);
      measured.push([e.id, e.ttfbEwmaMs ?? null, e.successEwma]);
    }
    const local = this.deps.budget.local;
    const spent = [local.requests - this.budgetSent.requests, local.failovers - this.budgetSent.failovers, local.hedges - this.budgetSent.hedges];
    this.budgetSent = { ...local };
    if (measured.length > 0 || spent.some((n) => n > 0)) this.send({ t: 'tick', measured, spent });
  }

  // ---- what happened elsewhere, applied here ----

  apply(m: ClusterMessage): void {
    const now = this.deps.now();
    const { pool } = this.deps;
    this.applying = true;
    try {
      switch (m.t) {
        case 'open': {
          const e = pool.get(str(m.id));
          if (e && PENALTIES.includes(str(m.cause))) e.breaker.adoptOpen(m.cause as Penalty, num(m.until), now);
          break;
        }
        case 'closed': {
          const e = pool.get(str(m.id));
          // The same as a recovery here: closed, and ramped up slowly if it was down.
          if (e && (e.breaker.state !== 'closed' || e.queued)) e.restore(now);
          break;
        }
        case 'failed': {
          const e = pool.get(str(m.id));
          if (e && PENALTIES.includes(str(m.cause))) e.breaker.adoptFailure(m.cause as Penalty, now);
          break;
        }
        case 'run-ended':
          pool.get(str(m.id))?.breaker.adoptRunEnded();
          break;
        case 'key':
          this.adoptKey(str(m.id), str(m.fp), m.problem === null ? undefined : str(m.problem), num(m.until));
          break;
        case 'check': {
          const e = pool.get(str(m.id));
          const r = m.result as CheckResult | undefined;
          if (e && r && typeof r.ok === 'boolean' && typeof r.model === 'string' && typeof r.at === 'number') this.deps.health.adopt(e, r);
          break;
        }
        case 'session':
          pool.affinity.adopt(str(m.s), str(m.id));
          break;
        case 'avoid':
          pool.affinity.adoptAvoid(str(m.s), str(m.id), num(m.until));
          break;
        case 'tick':
          this.adoptTick(m, now);
          break;
      }
    } finally {
      this.applying = false;
    }
  }

  /** (Re)connected: merge what the others recorded while this replica was away or not yet running. */
  async merge(): Promise<void> {
    const { link, pool } = this.deps;
    const fields = hashFields(await link.command(['HGETALL', link.key(SNAPSHOT)], 2_000));
    const now = this.deps.now();
    const stale: string[] = [];
    this.applying = true;
    try {
      for (const [field, text] of fields) {
        let value: { cause?: string; problem?: string; until?: number };
        try {
          value = JSON.parse(text) as typeof value;
        } catch {
          stale.push(field);
          continue;
        }
        const until = typeof value.until === 'number' ? value.until : 0;
        const [kind, id = '', fp = ''] = field.split(':');
        if (kind === 'breaker') {
          const e = pool.get(id);
          // An open breaker whose time is over is still the failure queue's until a check passes: keep it queued.
          if (e && PENALTIES.includes(value.cause ?? '')) e.breaker.adoptOpen(value.cause as Penalty, Math.max(until, now + 1_000), now);
        } else if (kind === 'key') {
          if (until <= now) stale.push(field);
          else this.adoptKey(id, fp, value.problem, until);
        }
      }
    } finally {
      this.applying = false;
    }
    if (stale.length > 0) this.write(['HDEL', link.key(SNAPSHOT), ...stale]);
    // Sessions' endpoints: a replica that starts mid-conversation keeps them where they were.
    const sessions = await this.sessions.load(pool.affinity).catch((e: unknown) => {
      this.deps.logger.warn({ err: e }, 'sessions\' endpoints not read from Redis; sessions may move to another endpoint once');
      return 0;
    });
    if (sessions > 0) this.deps.logger.info({ sessions }, 'sessions\' endpoints adopted from the other replicas');
    // What this replica saw alone while Redis was away, for the others.
    for (const e of pool.all()) {
      if (e.breaker.state === 'open' && !fields.has(`breaker:${e.id}`)) this.breakerChanged(e, { from: 'closed', to: 'open', cause: e.breaker.cause ?? 'server' });
      for (const k of e.keys.outKeys(now)) this.keyChanged(e, k.key, k.problem, k.until);
    }
  }

  private adoptKey(endpointId: string, fp: string, problem: string | undefined, until: number): void {
    const e = this.deps.pool.get(endpointId);
    if (!e || (problem !== undefined && !KEY_PROBLEMS.includes(problem))) return;
    for (let i = 0; i < e.keys.size; i++) {
      const key = e.keys.keyAt(i)!;
      if (keyFingerprint(key) !== fp) continue;
      e.keys.adopt(key, problem as KeyProblem | undefined, until);
      return;
    }
  }

  private adoptTick(m: ClusterMessage, now: number): void {
    if (Array.isArray(m.measured)) {
      for (const item of m.measured as unknown[]) {
        if (!Array.isArray(item)) continue;
        const [id, ttfb, success] = item as [unknown, unknown, unknown];
        const e = this.deps.pool.get(str(id));
        if (!e) continue;
        // Meet halfway: each replica's measurements pull the shared view, none overrides it.
        if (typeof ttfb === 'number' && Number.isFinite(ttfb) && ttfb >= 0) e.ttfbEwmaMs = e.ttfbEwmaMs === undefined ? ttfb : (e.ttfbEwmaMs + ttfb) / 2;
        if (typeof success === 'number' && success >= 0 && success <= 1) e.successEwma = (e.successEwma + success) / 2;
      }
    }
    if (Array.isArray(m.spent)) {
      const [r, f, h] = (m.spent as unknown[]).map((n) => (typeof n === 'number' && Number.isFinite(n) && n >= 0 ? Math.min(n, 1e6) : 0));
      this.deps.budget.addRemote(now, r ?? 0, f ?? 0, h ?? 0);
    }
  }

  private send(message: Omit<ClusterMessage, 'from'>): void {
    this.deps.link.publish(message);
  }

  private write(args: string[]): void {
    if (!this.deps.link.up) return;
    this.deps.link.command(args, 1_000).catch((e: unknown) => this.deps.logger.debug({ err: e }, 'shared endpoint state not written'));
  }
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
