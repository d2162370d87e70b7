import type { BudgetPeriod, Config } from '../config/schema.js';
import { keyView, type KeyLimiter } from '../keys/limiter.js';
import { addKey, KeyError, parseBudgetPeriod, parseExpiry, removeKey, revokeKey, rotateKey, setKey, type KeyLimitsPatch } from '../keys/manage.js';
import type { ClientKeyView } from '../shared/api-types.js';

/**
 * `/api/keys…`: team members' client keys for the dashboard and `qcc key list`. A secret appears in exactly two
 * answers, the creation and the rotation of its key; no answer ever holds a hash.
 */

export interface KeysContext {
  config: () => Config;
  change: (fn: (c: Config) => Config) => { persisted: boolean; note?: string };
  limiter: KeyLimiter;
  now: () => number;
  /** The pepper, made on first use. */
  pepper: () => Buffer;
}

export class KeysApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function positiveInt(v: unknown, field: string): number | null {
  if (v === null || v === '') return null;
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  throw new KeysApiError(400, `${field} must be a whole number above 0, or null to remove the limit`);
}

function list(v: unknown, field: string): string[] | null {
  if (v === null || v === '') return null;
  const items = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v : undefined;
  if (!items || items.some((x) => typeof x !== 'string')) throw new KeysApiError(400, `${field} must be a list of names (or a comma-separated string)`);
  const names = (items as string[]).map((x) => x.trim()).filter(Boolean);
  return names.length > 0 ? names : null;
}

/** The limits a request body sets; fields left out are left as they are. */
export function limitsFromBody(body: Record<string, unknown>, now: number): KeyLimitsPatch {
  const patch: KeyLimitsPatch = {};
  if ('rpm' in body) patch.rpm = positiveInt(body.rpm, 'rpm');
  if ('tpm' in body) patch.tpm = positiveInt(body.tpm, 'tpm');
  if ('budget' in body) {
    const b = body.budget as { usd?: unknown; per?: unknown } | null;
    if (b === null || b === undefined || (typeof b === 'object' && (b.usd === null || b.usd === ''))) patch.budget = null;
    else if (typeof b === 'object' && typeof b.usd === 'number' && b.usd > 0) patch.budget = { usd: b.usd, per: parseBudgetPeriod(String(b.per ?? 'month')) as BudgetPeriod };
    else throw new KeysApiError(400, 'budget must be {"usd": N above 0, "per": "day" | "week" | "month"}, or null');
  }
  if ('models' in body) patch.models = list(body.models, 'models');
  if ('endpoints' in body) patch.endpoints = list(body.endpoints, 'endpoints');
  if ('expires' in body) patch.expires_at = body.expires === null || body.expires === '' ? null : parseExpiry(String(body.expires), now);
  if ('note' in body) patch.note = body.note === null || body.note === '' ? null : String(body.note);
  return patch;
}

export function createKeysApi(ctx: KeysContext) {
  const views = (): ClientKeyView[] => ctx.config().client_keys.map((k) => keyView(k, ctx.limiter, ctx.now()));
  const viewOf = (name: string): ClientKeyView => views().find((v) => v.name === name)!;

  /** Answers a keys route, or returns undefined when the path is not one. */
  return async function keysRoute(method: string, path: string, body: () => Promise<Record<string, unknown>>): Promise<{ status: number; value: unknown } | undefined> {
    if (path === '/api/keys' && method === 'GET') return { status: 200, value: views() };
    const match = /^\/api\/keys(?:\/([^/]+)(?:\/(revoke|rotate))?)?$/.exec(path);
    if (!match) return undefined;
    try {
      if (match[1] === undefined && method === 'POST') {
        const b = await body();
        const name = typeof b.name === 'string' ? b.name.trim() : '';
        let secret = '';
        const r = ctx.change((c) => {
          const made = addKey(c, name, limitsFromBody(b, ctx.now()), ctx.pepper(), ctx.now());
          secret = made.secret;
          return made.config;
        });
        return { status: 201, value: { key: viewOf(name), secret, ...r } };
      }
      if (match[1] === undefined) return undefined;
      const name = decodeURIComponent(match[1]);
      if (match[2] === 'revoke' && method === 'POST') return { status: 200, value: { ...ctx.change((c) => revokeKey(c, name, ctx.now())), key: viewOf(name) } };
      if (match[2] === 'rotate' && method === 'POST') {
        let secret = '';
        const r = ctx.change((c) => {
          const made = rotateKey(c, name, ctx.pepper(), ctx.now());
          secret = made.secret;
          return made.config;
        });
        return { status: 200, value: { key: viewOf(name), secret, ...r } };
      }
      if (match[2] !== undefined) return undefined;
      if (method === 'PATCH') {
        const b = await body();
        return { status: 200, value: { ...ctx.change((c) => setKey(c, name, limitsFromBody(b, ctx.now()))), key: viewOf(name) } };
      }
      if (method === 'DELETE') return { status: 200, value: ctx.change((c) => removeKey(c, name)) };
      return undefined;
    } catch (e: unknown) {
      if (e instanceof KeyError) throw new KeysApiError(/^no key named/.test(e.message) ? 404 : 400, e.message);
      throw e;
    }
  };
}

export type KeysRoute = ReturnType<typeof createKeysApi>;
