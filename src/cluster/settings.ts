import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import { maskUrl } from '../shared/url-mask.js';

/**
 * Where a replica keeps what it shares: the config's `state` and `stats` sections, with the container-style
 * variables winning (QCC_REDIS_URL, QCC_DATABASE_URL, QCC_REPLICA_ID): a deployment sets them once for every
 * replica, and the file stays the same on each.
 */
export interface StoreSettings {
  /** Names this process in every record, lease and message: the host name unless QCC_REPLICA_ID says otherwise. */
  replicaId: string;
  redis: { url: string; prefix: string; leaseMs: number; timeoutMs: number } | undefined;
  postgres: { url: string; schema: string } | undefined;
}

export class StoreSettingsError extends Error {}

const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function storeSettings(config: Config, env: NodeJS.ProcessEnv = process.env): StoreSettings {
  const replicaId = env.QCC_REPLICA_ID?.trim() || hostname();
  if (!REPLICA_ID.test(replicaId)) {
    throw new StoreSettingsError(`QCC_REPLICA_ID "${replicaId}" is not a usable replica id: use 1-100 letters, digits, ".", "_", ":" or "-"`);
  }
  const redisUrl = env.QCC_REDIS_URL?.trim() || (config.state.backend === 'redis' ? config.state.redis_url : undefined);
  if (config.state.backend === 'redis' && redisUrl === undefined) {
    throw new StoreSettingsError('state.backend is "redis" but no Redis is named: set state.redis_url (redis://host:6379) or QCC_REDIS_URL');
  }
  if (redisUrl !== undefined) checkUrl(redisUrl, ['redis:', 'rediss:'], 'QCC_REDIS_URL / state.redis_url', 'redis://127.0.0.1:6379');
  const pgUrl = env.QCC_DATABASE_URL?.trim() || (config.stats.backend === 'postgres' ? config.stats.postgres_url : undefined);
  if (config.stats.backend === 'postgres' && pgUrl === undefined) {
    throw new StoreSettingsError('stats.backend is "postgres" but no database is named: set stats.postgres_url (postgres://user@host:5432/db) or QCC_DATABASE_URL');
  }
  if (pgUrl !== undefined) checkUrl(pgUrl, ['postgres:', 'postgresql:'], 'QCC_DATABASE_URL / stats.postgres_url', 'postgres://user:password@host:5432/qcc');
  return {
    replicaId,
    redis: redisUrl === undefined ? undefined : { url: redisUrl, prefix: config.state.key_prefix, leaseMs: config.state.lease_ms, timeoutMs: config.state.timeout_ms },
    postgres: pgUrl === undefined ? undefined : { url: pgUrl, schema: config.stats.postgres_schema },
  };
}

function checkUrl(url: string, protocols: readonly string[], what: string, example: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreSettingsError(`${what} "${maskUrl(url)}" is not a URL; write it like ${example}`);
  }
  if (!protocols.includes(parsed.protocol)) throw new StoreSettingsError(`${what} "${maskUrl(url)}" must start with ${protocols.join(' or ')}//, like ${example}`);
}
