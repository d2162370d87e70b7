/**
 * Pure migrations from older config shapes to version 1. Each takes parsed JSON and returns parsed JSON;
 * validation happens afterwards, against the one schema.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface MigrationResult {
  value: unknown;
  /** Human description of what changed, empty when the input was already current. */
  changes: string[];
}

const LEGACY_ENDPOINT_FIELDS = ['base_url', 'api_key', 'api_keys', 'auth_mode', 'models', 'model_map', 'weight'] as const;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The legacy single-endpoint form: `base_url`/`api_key` at the top level and no `endpoints`. It becomes one
 * endpoint with id `default`; top-level `host`/`port` move under `proxy`.
 */
export function migrateLegacySingleEndpoint(input: unknown): MigrationResult {
  if (!isObject(input) || 'endpoints' in input || !('base_url' in input)) return { value: input, changes: [] };
  const endpoint: JsonObject = { id: 'default' };
  const rest: JsonObject = {};
  for (const [key, value] of Object.entries(input)) {
    if ((LEGACY_ENDPOINT_FIELDS as readonly string[]).includes(key)) endpoint[key] = value;
    else rest[key] = value;
  }
  const proxy: JsonObject = isObject(rest.proxy) ? { ...rest.proxy } : {};
  for (const key of ['host', 'port'] as const) {
    if (key in rest) {
      proxy[key] = rest[key] as Json;
      delete rest[key];
    }
  }
  const out: JsonObject = { ...rest, version: 1, endpoints: [endpoint] };
  if (Object.keys(proxy).length > 0) out.proxy = proxy;
  return { value: out, changes: ['legacy single-endpoint config migrated to one endpoint with id "default"'] };
}

export function migrate(input: unknown): MigrationResult {
  const legacy = migrateLegacySingleEndpoint(input);
  let value = legacy.value;
  const changes = [...legacy.changes];
  // Files written before `version` existed but already listing endpoints are version 1 in all but name.
  if (isObject(value) && !('version' in value) && Array.isArray(value.endpoints)) {
    value = { version: 1, ...value };
    changes.push('added "version": 1');
  }
  return { value, changes };
}
