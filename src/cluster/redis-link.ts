import { createClient, type RedisClientType } from 'redis';
import { createHash } from 'node:crypto';
import type { Logger } from '../log.js';
import { maskUrl } from '../shared/url-mask.js';

/**
 * A replica's connection to Redis: one client for commands, one for the subscription (a subscribed connection can
 * send nothing else). Commands are never queued while Redis is away (`disableOfflineQueue`) and each has a deadline,
 * so a slow or missing Redis costs a request at most the deadline, then the replica decides alone (degraded).
 * Reconnection is node-redis's own, with capped exponential backoff; `onState` tells the replica when to fall back
 * and when to merge back.
 */

export interface RedisLinkSettings {
  url: string;
  prefix: string;
  timeoutMs: number;
  replicaId: string;
}

/** A message between replicas: what happened, and who saw it. */
export interface ClusterMessage {
  from: string;
  t: string;
  [field: string]: unknown;
}

export interface LuaScript {
  source: string;
  sha: string;
}

export function luaScript(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Backoff between reconnection attempts: 100 ms doubling to 5 s. */
export function reconnectDelay(retries: number): number {
  return Math.min(5_000, 100 * 2 ** Math.min(retries, 6));
}

export type Reply = string | number | null | Reply[] | { [field: string]: Reply };

/** A hash's fields (HGETALL): an object under RESP3 (node-redis's default), a flat array under RESP2. */
export function hashFields(reply: Reply): Map<string, string> {
  const fields = new Map<string, string>();
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]));
  } else if (reply !== null && typeof reply === 'object') {
    for (const [k, v] of Object.entries(reply)) fields.set(k, String(v));
  }
  return fields;
}

export class RedisLink {
  readonly channel: string;
  private readonly client: RedisClientType;
  private readonly subscriber: RedisClientType;
  private upState = false;
  private subscribed = false;
  private downSince: number | undefined = Date.now();
  private lastError: string | undefined;
  private closed = false;
  private readonly stateListeners: ((up: boolean) => void)[] = [];
  private readonly messageListeners: ((m: ClusterMessage) => void)[] = [];

  constructor(
    readonly settings: RedisLinkSettings,
    private readonly logger: Logger,
  ) {
    this.channel = `${settings.prefix}:events`;
    const options = {
      url: settings.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2_000, reconnectStrategy: reconnectDelay },
    };
    this.client = createClient(options) as RedisClientType;
    this.subscriber = createClient(options) as RedisClientType;
    for (const c of [this.client, this.subscriber]) {
      // node-redis emits an error for every failed attempt; one line per outage is enough (see setUp).
      c.on('error', (e: unknown) => this.setUp(false, e));
      c.on('reconnecting', () => this.setUp(false));
      c.on('ready', () => this.refresh());
    }
  }

  /** `prefix:part:part…` */
  key(...parts: string[]): string {
    return `${this.settings.prefix}:${parts.join(':')}`;
  }

  get up(): boolean {
    return this.upState;
  }

  describe(): { url: string; up: boolean; since: string | null; error: string | null } {
    return {
      url: maskUrl(this.settings.url),
      up: this.upState,
      since: this.downSince === undefined ? null : new Date(this.downSince).toISOString(),
      error: this.upState ? null : (this.lastError ?? null),
    };
  }

  /** Connect both clients in the background; resolves when both are up or `waitMs` passed (false then). */
  async start(waitMs: number): Promise<boolean> {
    const connected = Promise.all([
      this.client.connect(),
      this.subscriber.connect().then(() =>
        this.subscriber.subscribe(this.channel, (text) => this.receive(text)).then(() => {
          this.subscribed = true;
          this.refresh();
        }),
      ),
    ]).then(() => true);
    connected.catch(() => undefined);
    return Promise.race([connected, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), waitMs).unref())]);
  }

  onState(listener: (up: boolean) => void): void {
    this.stateListeners.push(listener);
  }

  onMessage(listener: (m: ClusterMessage) => void): void {
    this.messageListeners.push(listener);
  }

  /** One command with a deadline; rejects at once while Redis is away. */
  command(args: readonly string[], timeoutMs = this.settings.timeoutMs): Promise<Reply> {
    return this.client.sendCommand<Reply>(args, { timeout: timeoutMs, rejectInFlight: true });
  }

  /** Run a Lua script by its SHA, loading it the first time a server has not seen it. */
  async script(script: LuaScript, keys: readonly string[], args: readonly string[], timeoutMs = this.settings.timeoutMs): Promise<Reply> {
    try {
      return await this.command(['EVALSHA', script.sha, String(keys.length), ...keys, ...args], timeoutMs);
    } catch (e: unknown) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      return this.command(['EVAL', script.source, String(keys.length), ...keys, ...args], timeoutMs);
    }
  }

  /** Tell the other replicas; lost if Redis is away (the snapshot hash repairs what a replica missed). */
  publish(message: Omit<ClusterMessage, 'from'>): void {
    if (!this.upState) return;
    this.command(['PUBLISH', this.channel, JSON.stringify({ ...message, from: this.settings.replicaId })], 1_000).catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.client.close(), this.subscriber.close()]);
    this.client.destroy();
    this.subscriber.destroy();
  }

  private receive(text: string): void {
    let m: ClusterMessage;
    try {
      m = JSON.parse(text) as ClusterMessage;
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null || typeof m.t !== 'string' || m.from === this.settings.replicaId) return;
    for (const l of this.messageListeners) {
      try {
        l(m);
      } catch (e: unknown) {
        this.logger.warn({ err: e, message: m.t }, 'a message from another replica could not be applied');
      }
    }
  }

  private refresh(): void {
    this.setUp(this.client.isReady && this.subscriber.isReady && this.subscribed);
  }

  private setUp(up: boolean, error?: unknown): void {
    if (error !== undefined) this.lastError = error instanceof Error ? error.message || error.name : String(error);
    if (this.closed || up === this.upState) return;
    this.upState = up;
    this.downSince = up ? undefined : Date.now();
    if (up) this.logger.info({ redis: maskUrl(this.settings.url) }, 'shared state: Redis connected');
    else this.logger.error({ redis: maskUrl(this.settings.url), reason: this.lastError }, 'shared state: Redis unreachable; serving on this replica\'s own state until it returns');
    for (const l of this.stateListeners) l(up);
  }
}
