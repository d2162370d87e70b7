import { configSchema, type Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { hashFields, luaScript, type ClusterMessage, type RedisLink } from './redis-link.js';

/**
 * The config replicas share (issue #24, item 4). It lives in Redis, in one hash (`PREFIX:config`: the config's
 * JSON, its version, who wrote it and when); every replica also keeps it in its own config file, so that it starts
 * with the latest it saw even when Redis is away.
 *
 * - A change made on any replica (the dashboard, `qcc endpoint …`, `qcc key …`, an edit of its file) is written
 *   there by one script that also bumps the version and tells the others; they apply it and save it to their file
 *   within milliseconds.
 * - Conflicting edits resolve deterministically: each write is a whole config with a version Redis hands out
 *   (INCR, atomic), and every replica ends up with the highest version: the last edit to reach Redis wins.
 * - A replica that starts (or reconnects) with a config different from the shared one adopts the shared one
 *   (its file as it was is kept beside it, `config.json.before-shared`), unless its own file changed after the
 *   shared one was written (an edit made while it was away): that edit is then the newest, and is shared. A
 *   replica whose config has no endpoint (a new one) always adopts.
 *
 * What is not shared is each replica's own: where it listens (`proxy.host`, `proxy.port`) and where its stores
 * are (`state`, and `stats`'s backend, URL and schema).
 */

const PUBLISH = luaScript(`
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'replica', ARGV[2], 'at', ARGV[3])
redis.call('PUBLISH', KEYS[2], cjson.encode({t = 'config', version = version, from = ARGV[2]}))
return version
`);

/** The part of a config that replicas share: everything but where this one listens and keeps its stores. */
export function sharedPart(config: Config): unknown {
  const { host: _host, port: _port, ...proxy } = config.proxy;
  const { backend: _backend, postgres_url: _url, postgres_schema: _schema, ...stats } = config.stats;
  const { state: _state, ...rest } = config;
  return { ...rest, proxy, stats };
}

/** A shared config put into this replica's own: its listening address and stores kept. */
export function withLocalPart(shared: Config, local: Config): Config {
  return {
    ...shared,
    proxy: { ...shared.proxy, host: local.proxy.host, port: local.proxy.port },
    stats: { ...shared.stats, backend: local.stats.backend, postgres_url: local.stats.postgres_url, postgres_schema: local.stats.postgres_schema },
    state: local.state,
  };
}

export interface ConfigSyncDeps {
  link: RedisLink;
  /** The config in force here. */
  current: () => Config;
  /** When this replica's config file last changed (ms), if it has one: an edit made while Redis was away wins. */
  fileChangedAt: () => number | undefined;
  /**
   * Apply and save a config that came from another replica (never published back). `replacing`: it replaces a
   * different config this replica started with, which is kept aside (the file as it was) rather than lost.
   */
  adopt: (config: Config, replacing: boolean) => void;
  logger: Logger;
}

export class ConfigSync {
  /** The shared version this replica's config corresponds to. */
  private version = 0;
  /** JSON of the shared part last published or adopted: a reload that changes nothing shared publishes nothing. */
  private lastShared: string | undefined;
  /** A change made here is not in Redis yet (it was away, or the write failed): shared at the next merge. */
  private unshared = false;

  constructor(private readonly deps: ConfigSyncDeps) {
    deps.link.onMessage((m) => this.onMessage(m));
  }

  get appliedVersion(): number {
    return this.version;
  }

  /** This replica's config changed (locally): share it, if what is shared changed. */
  changed(config: Config): void {
    const json = JSON.stringify(sharedPart(config));
    if (json === this.lastShared) return;
    this.lastShared = json;
    this.unshared = true;
    if (this.deps.link.up) void this.publish(json);
  }

  /** (Re)connected: adopt the shared config, or share this one if it is newer or there is none yet. */
  async merge(): Promise<void> {
    const shared = await this.read();
    const mine = JSON.stringify(sharedPart(this.deps.current()));
    if (shared === undefined || this.unshared) {
      this.lastShared = mine;
      await this.publish(mine);
      return;
    }
    if (shared.json === mine) {
      this.version = shared.version;
      this.lastShared = mine;
      return;
    }
    const fileAt = this.deps.fileChangedAt();
    // A replica with no endpoint of its own (a new one, configured only with where Redis is) never replaces the
    // deployment's config, however new its file.
    if (fileAt !== undefined && fileAt > shared.at && this.deps.current().endpoints.length > 0) {
      this.deps.logger.info({ shared_version: shared.version, from: shared.replica }, 'config: this replica\'s file changed after the shared config was written; sharing it');
      this.lastShared = mine;
      await this.publish(mine);
      return;
    }
    this.apply(shared, `config: adopting the shared config (version ${shared.version}, written by ${shared.replica})`, true);
  }

  private onMessage(m: ClusterMessage): void {
    if (m.t !== 'config' || typeof m.version !== 'number' || m.version <= this.version) return;
    void this.read().then(
      (shared) => {
        if (shared && shared.version > this.version) this.apply(shared, `config: applying the change made on ${shared.replica} (version ${shared.version})`);
      },
      (e: unknown) => this.deps.logger.warn({ err: e }, 'config: could not read the shared config'),
    );
  }

  private apply(shared: { version: number; json: string; replica: string }, message: string, replacing = false): void {
    let parsed: Config;
    try {
      parsed = configSchema.parse(JSON.parse(shared.json));
    } catch (e: unknown) {
      // Written by a newer qcc, or by hand: this replica keeps its config rather than run one it cannot read.
      this.deps.logger.error({ err: e, version: shared.version }, 'config: the shared config is not valid for this qcc; keeping the current one');
      return;
    }
    this.version = shared.version;
    this.lastShared = shared.json;
    const next = withLocalPart(parsed, this.deps.current());
    this.deps.logger.info(message);
    this.deps.adopt(next, replacing);
  }

  private async publish(json: string): Promise<void> {
    const { link } = this.deps;
    try {
      const version = await link.script(PUBLISH, [link.key('config'), link.channel], [json, link.settings.replicaId, String(Date.now())], 2_000);
      if (typeof version === 'number') this.version = version;
      this.unshared = false;
    } catch (e: unknown) {
      this.deps.logger.warn({ err: e }, 'config: could not share this change; it is shared when Redis answers again');
    }
  }

  private async read(): Promise<{ version: number; json: string; replica: string; at: number } | undefined> {
    const { link } = this.deps;
    const h = hashFields(await link.command(['HGETALL', link.key('config')], 2_000));
    const json = h.get('json');
    if (json === undefined) return undefined;
    return { version: Number(h.get('version') ?? 0), json, replica: h.get('replica') ?? '?', at: Number(h.get('at') ?? 0) };
  }
}
