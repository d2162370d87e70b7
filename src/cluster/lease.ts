import type { Logger } from '../log.js';
import { luaScript, type RedisLink } from './redis-link.js';

/**
 * A lease in Redis that one replica at a time holds: the health checker's. N replicas must not multiply the tokens
 * spent on checks, so checks and failure-queue probes run where the lease is, and their results are shared.
 *
 * The holder renews it every third of its time; a replica that dies stops renewing, and another takes it within one
 * lease time. Renewal and release are compare-and-set scripts, so a replica that lost the lease (paused past its
 * time) can never extend or delete its successor's.
 */

const RENEW = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`);
const RELEASE = luaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`);

export class Lease {
  private heldSince: number | undefined;
  private renewedAt = 0;
  /** Who holds it, as last seen (this replica included). */
  holder: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly key: string;

  constructor(
    private readonly link: RedisLink,
    name: string,
    private readonly ms: number,
    private readonly onChange: (held: boolean) => void,
    private readonly logger: Logger,
  ) {
    this.key = link.key('lease', name);
  }

  get held(): boolean {
    return this.heldSince !== undefined;
  }

  start(): void {
    void this.attempt();
    this.timer = setInterval(() => void this.attempt(), Math.max(200, Math.floor(this.ms / 3)));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.held && this.link.up) {
      // Given back at once, so a successor need not wait out the lease time after a clean stop.
      await this.link.script(RELEASE, [this.key], [this.link.settings.replicaId], 1_000).catch(() => undefined);
    }
    this.set(false);
  }

  /** Try now (Redis just came back) rather than at the next tick. */
  attemptNow(): void {
    void this.attempt();
  }

  /** Redis went away: nobody can hold the lease (each replica then checks for itself; see Cluster). */
  lost(): void {
    this.holder = undefined;
    this.set(false);
  }

  private async attempt(): Promise<void> {
    if (!this.link.up) return;
    const me = this.link.settings.replicaId;
    try {
      if (this.held) {
        const renewed = await this.link.script(RENEW, [this.key], [me, String(this.ms)], 1_000);
        if (renewed !== 1) this.set(false);
        else return void (this.renewedAt = Date.now());
      }
      const taken = await this.link.command(['SET', this.key, me, 'NX', 'PX', String(this.ms)], 1_000);
      if (taken === 'OK') {
        this.holder = me;
        this.renewedAt = Date.now();
        return this.set(true);
      }
      const holder = await this.link.command(['GET', this.key], 1_000);
      this.holder = typeof holder === 'string' ? holder : undefined;
    } catch (e: unknown) {
      this.logger.debug({ err: e }, 'health lease not renewed');
      // A renewal that cannot reach Redis within the lease time is a lost lease: someone else may take it.
      if (this.held && Date.now() - this.renewedAt > this.ms) this.set(false);
    }
  }

  private set(held: boolean): void {
    if (held === this.held) return;
    this.heldSince = held ? Date.now() : undefined;
    if (!held && this.holder === this.link.settings.replicaId) this.holder = undefined;
    this.logger.info({ lease: this.key, held }, held ? 'this replica now runs the health checks for all' : 'health checks are another replica\'s now');
    this.onChange(held);
  }
}
