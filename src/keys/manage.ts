import { BUDGET_PERIODS, CLIENT_KEY_NAME, type BudgetPeriod, type ClientKeyConfig, type Config } from '../config/schema.js';
import { keyHash, newKeySecret, shownPrefix } from './secret.js';

/**
 * Creating, changing, revoking and rotating client keys: pure changes to a config, shared by `qcc key …` and the
 * dashboard. Each returns the new config (validated by whoever saves it); a secret is returned only where one is
 * made, to be shown once.
 */

export class KeyError extends Error {}

/** Limits as given on the command line or by the dashboard: a field set to null removes that limit. */
export interface KeyLimitsPatch {
  rpm?: number | null;
  tpm?: number | null;
  budget?: { usd: number; per: BudgetPeriod } | null;
  models?: string[] | null;
  endpoints?: string[] | null;
  expires_at?: string | null;
  note?: string | null;
}

const LIMIT_FIELDS = ['rpm', 'tpm', 'budget', 'models', 'endpoints', 'expires_at', 'note'] as const;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function find(config: Config, name: string): { key: ClientKeyConfig; index: number } {
  const index = config.client_keys.findIndex((k) => k.name === name);
  if (index === -1) {
    const known = config.client_keys.map((k) => k.name);
    throw new KeyError(`no key named "${name}"${known.length > 0 ? ` (keys: ${known.join(', ')})` : '; `qcc key add NAME` makes one'}`);
  }
  return { key: config.client_keys[index]!, index };
}

function withKey(config: Config, index: number, key: ClientKeyConfig): Config {
  const client_keys = [...config.client_keys];
  client_keys[index] = key;
  return { ...config, client_keys };
}

function checkEndpoints(config: Config, endpoints: readonly string[] | null | undefined): void {
  if (!endpoints) return;
  const ids = new Set(config.endpoints.map((e) => e.id));
  const unknown = endpoints.filter((e) => !ids.has(e));
  if (unknown.length > 0) {
    throw new KeyError(`unknown endpoint${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} (endpoints: ${[...ids].join(', ') || 'none yet'})`);
  }
}

function applyLimits(key: ClientKeyConfig, patch: KeyLimitsPatch): ClientKeyConfig {
  const next: Record<string, unknown> = { ...key };
  for (const field of LIMIT_FIELDS) {
    if (!(field in patch)) continue;
    const value = patch[field];
    if (value === null || value === undefined) delete next[field];
    else next[field] = value;
  }
  return next as unknown as ClientKeyConfig;
}

export function addKey(config: Config, name: string, limits: KeyLimitsPatch, pepper: Buffer, now: number): { config: Config; secret: string } {
  if (!CLIENT_KEY_NAME.test(name)) throw new KeyError(`"${name}" is not a key name: use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit`);
  if (config.client_keys.some((k) => k.name === name)) throw new KeyError(`a key named "${name}" exists already: \`qcc key rotate ${name}\` gives it a new secret`);
  checkEndpoints(config, limits.endpoints);
  const secret = newKeySecret();
  const key = applyLimits({ name, hash: keyHash(secret, pepper), prefix: shownPrefix(secret), created_at: iso(now) }, limits);
  return { config: { ...config, client_keys: [...config.client_keys, key] }, secret };
}

export function setKey(config: Config, name: string, limits: KeyLimitsPatch): Config {
  const { key, index } = find(config, name);
  checkEndpoints(config, limits.endpoints);
  return withKey(config, index, applyLimits(key, limits));
}

/** Refused from the next request on; kept in the list so its history keeps its name. */
export function revokeKey(config: Config, name: string, now: number): Config {
  const { key, index } = find(config, name);
  if (key.revoked_at !== undefined) throw new KeyError(`key "${name}" was already revoked at ${key.revoked_at}`);
  return withKey(config, index, { ...key, revoked_at: iso(now) });
}

/** A new secret for the same name, limits and history; the old secret stops working at once. Un-revokes. */
export function rotateKey(config: Config, name: string, pepper: Buffer, now: number): { config: Config; secret: string } {
  const { key, index } = find(config, name);
  const secret = newKeySecret();
  const { revoked_at: _revoked, ...rest } = key;
  return { config: withKey(config, index, { ...rest, hash: keyHash(secret, pepper), prefix: shownPrefix(secret), rotated_at: iso(now) }), secret };
}

/** Gone from the config; its rows in the request log keep its name. */
export function removeKey(config: Config, name: string): Config {
  find(config, name);
  return { ...config, client_keys: config.client_keys.filter((k) => k.name !== name) };
}

/** `30d`, `12h`, `2w`, `90m` from now, or a date / date-time (a bare date means its start, UTC). */
export function parseExpiry(text: string, now: number): string {
  const rel = /^(\d+)\s*([mhdw])$/i.exec(text.trim());
  if (rel) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[rel[2]!.toLowerCase() as 'm' | 'h' | 'd' | 'w'];
    return iso(now + Number(rel[1]) * unit);
  }
  const at = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(text.trim()) ? `${text.trim()}T00:00:00Z` : text.trim());
  if (Number.isNaN(at)) throw new KeyError(`"${text}" is not an expiry: give a duration (30d, 12h, 2w) or a date (2027-01-31)`);
  if (at <= now) throw new KeyError(`"${text}" is in the past`);
  return iso(at);
}

export function parseBudgetPeriod(text: string): BudgetPeriod {
  const per = text.trim().toLowerCase().replace(/ly$/, '').replace(/^dai$/, 'day');
  if ((BUDGET_PERIODS as readonly string[]).includes(per)) return per as BudgetPeriod;
  throw new KeyError(`"${text}" is not a budget period: use day, week or month`);
}
