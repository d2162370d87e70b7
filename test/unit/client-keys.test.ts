import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configSchema, type ClientKeyConfig } from '../../src/config/schema.js';
import { KeyLimiter, type Refusal, type Ticket } from '../../src/keys/limiter.js';
import { addKey, parseBudgetPeriod, parseExpiry, removeKey, revokeKey, rotateKey, setKey } from '../../src/keys/manage.js';
import { ClientKeyRegistry } from '../../src/keys/registry.js';
import { keyHash, loadPepper, looksLikeClientKey, newKeySecret } from '../../src/keys/secret.js';
import { budgetWindow, SlidingCount, SlidingSum } from '../../src/keys/windows.js';

const PEPPER = Buffer.from('unit-pepper-unit-pepper-unit-pepper-00');
const T0 = Date.UTC(2026, 11, 6, 12, 0, 0);
const base = () => configSchema.parse({ version: 1, endpoints: [{ id: 'a', base_url: 'https://api.anthropic.com' }] });
const facts = { model: 'claude-haiku-4-5', messages: true, bodyBytes: 400, maxTokens: 400 };
const key = (limits: Partial<ClientKeyConfig>): ClientKeyConfig => ({ name: 'k', hash: `hmac-sha256:${'0'.repeat(64)}`, prefix: 'qcc-abcdef', created_at: new Date(T0).toISOString(), ...limits });
const isRefusal = (v: Ticket | Refusal): v is Refusal => 'reason' in v;

describe('sliding windows', () => {
  it('count: a request leaves the minute exactly 60 s after it came', () => {
    const w = new SlidingCount();
    for (let i = 0; i < 200; i++) w.add(T0 + i);
    expect(w.count(T0 + 59_999)).toBe(200);
    expect(w.count(T0 + 60_000)).toBe(199);
    expect(w.nextExpiry()).toBe(T0 + 60_001);
    expect(w.count(T0 + 60_198)).toBe(1);
    expect(w.count(T0 + 120_000)).toBe(0);
  });

  it('sum: settled amounts leave with their time, and the time it drops below a target is known', () => {
    const s = new SlidingSum();
    s.add(T0, 100);
    s.add(T0 + 10_000, 200);
    s.add(T0 + 5_000, 50); // out of order (rebuilt rows): kept sorted
    expect(s.sum(T0 + 20_000)).toBe(350);
    expect(s.dropsBelowAt(300)).toBe(T0 + 60_000); // 250 once the first leaves
    expect(s.dropsBelowAt(100)).toBe(T0 + 70_000); // 200 is left until the last one leaves too
    expect(s.dropsBelowAt(0)).toBeUndefined();
    expect(s.sum(T0 + 65_000)).toBe(200);
    expect(s.sum(T0 + 70_000)).toBe(0);
    // Counts come from endpoints' answers: nonsense is ignored rather than poisoning the sum.
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -5, 0]) s.add(T0 + 80_000, bad);
    s.add(T0 + 80_000, 7);
    expect(s.sum(T0 + 80_000)).toBe(7);
  });

  it('budget windows are UTC days, ISO weeks from Monday, and months', () => {
    const sunday = Date.UTC(2026, 11, 6, 23, 30); // 2026-12-06 is a Sunday
    expect(budgetWindow('day', sunday)).toEqual({ start: Date.UTC(2026, 11, 6), end: Date.UTC(2026, 11, 7) });
    expect(budgetWindow('week', sunday)).toEqual({ start: Date.UTC(2026, 10, 30), end: Date.UTC(2026, 11, 7) });
    expect(budgetWindow('week', Date.UTC(2026, 11, 7))).toEqual({ start: Date.UTC(2026, 11, 7), end: Date.UTC(2026, 11, 14) });
    expect(budgetWindow('month', sunday)).toEqual({ start: Date.UTC(2026, 11, 1), end: Date.UTC(2027, 0, 1) });
  });
});

describe('key limiter', () => {
  it('count_tokens and model listings are not counted, but the model allowlist applies to them', () => {
    const l = new KeyLimiter();
    const k = key({ rpm: 1, models: ['claude-haiku-*'] });
    for (let i = 0; i < 5; i++) expect(isRefusal(l.admit(k, { ...facts, messages: false }, T0))).toBe(false);
    expect(l.admit(k, { ...facts, messages: false, model: 'claude-opus-4-5' }, T0)).toMatchObject({ reason: 'model' });
    expect(isRefusal(l.admit(k, facts, T0))).toBe(false);
    expect(l.admit(k, facts, T0)).toMatchObject({ reason: 'rpm', retryAfterS: 60 });
  });

  it('tpm reserves the input estimate and a quarter of max_tokens until the request settles, once', () => {
    const l = new KeyLimiter();
    const k = key({ tpm: 500 });
    const t = l.admit(k, facts, T0) as Ticket;
    expect(t.reserved).toBe(100 + 100);
    expect(l.view(k, T0)).toMatchObject({ tokens_reserved: 200, inflight: 1 });
    const t2 = l.admit(k, facts, T0) as Ticket;
    const t3 = l.admit(k, facts, T0) as Ticket; // admitted at 400 reserved (< 500)
    const refused = l.admit(k, facts, T0) as Refusal;
    expect(refused).toMatchObject({ reason: 'tpm', retryAfterS: 2 }); // only reservations in the way: they settle soon
    expect(refused.message).toContain('600 reserved by 3 requests in flight');
    l.settle(t, 30, 0, T0);
    l.settle(t, 30, 0, T0); // idempotent
    l.settle(t2, 30, 0, T0);
    l.settle(t3, 30, 0, T0);
    expect(l.view(k, T0)).toMatchObject({ tokens_last_minute: 90, tokens_reserved: 0, inflight: 0 });
  });

  it('a budget is checked against settled spend; a change of period recounts from the daily spend', () => {
    const l = new KeyLimiter();
    const k = key({ budget: { usd: 1, per: 'day' } });
    l.restore([
      { key: 'k', startedAt: T0 - 3 * 86_400_000, endedAt: T0 - 3 * 86_400_000, tokens: 0, usd: 5 }, // Thursday: this week, not today
      { key: 'k', startedAt: T0 - 60_000, endedAt: T0 - 60_000, tokens: 0, usd: 0.6 },
    ]);
    expect(isRefusal(l.admit(k, facts, T0))).toBe(false);
    l.settle(l.admit(k, facts, T0) as Ticket, 0, 0.5, T0);
    expect(l.admit(k, facts, T0)).toMatchObject({ reason: 'budget' });
    const weekly = { ...k, budget: { usd: 10, per: 'week' as const } };
    expect(l.view(weekly, T0).budget).toMatchObject({ spent_usd: 6.1, limit_usd: 10 });
  });
});

describe('key management', () => {
  it('adds with a 256-bit secret shown once and only a keyed hash kept; names are unique and endpoints must exist', () => {
    const { config, secret } = addKey(base(), 'alice', { rpm: 10, endpoints: ['a'] }, PEPPER, T0);
    expect(looksLikeClientKey(secret)).toBe(true);
    expect(Buffer.from(secret.slice(4), 'base64url')).toHaveLength(32);
    const stored = config.client_keys[0]!;
    expect(stored).toMatchObject({ name: 'alice', rpm: 10, prefix: secret.slice(0, 10), hash: keyHash(secret, PEPPER) });
    expect(JSON.stringify(config)).not.toContain(secret.slice(10));
    expect(() => configSchema.parse(config)).not.toThrow();
    expect(() => addKey(config, 'alice', {}, PEPPER, T0)).toThrow(/exists already/);
    expect(() => addKey(config, 'bob', { endpoints: ['zzz'] }, PEPPER, T0)).toThrow(/unknown endpoint "zzz"/);
    expect(() => addKey(config, 'has space', {}, PEPPER, T0)).toThrow(/not a key name/);
  });

  it('set changes and removes limits; rotate replaces the secret (and un-revokes); revoke and remove', () => {
    let { config } = addKey(base(), 'alice', { rpm: 10, tpm: 1000 }, PEPPER, T0);
    config = setKey(config, 'alice', { rpm: null, budget: { usd: 5, per: 'week' } });
    expect(config.client_keys[0]).toMatchObject({ tpm: 1000, budget: { usd: 5, per: 'week' } });
    expect(config.client_keys[0]!.rpm).toBeUndefined();
    config = revokeKey(config, 'alice', T0);
    expect(() => revokeKey(config, 'alice', T0)).toThrow(/already revoked/);
    const oldHash = config.client_keys[0]!.hash;
    const rotated = rotateKey(config, 'alice', PEPPER, T0 + 1);
    expect(rotated.config.client_keys[0]!.hash).not.toBe(oldHash);
    expect(rotated.config.client_keys[0]!.revoked_at).toBeUndefined();
    expect(removeKey(rotated.config, 'alice').client_keys).toEqual([]);
    expect(() => setKey(base(), 'nobody', {})).toThrow(/no key named "nobody"/);
  });

  it('reads expiries and budget periods as people write them', () => {
    expect(parseExpiry('30d', T0)).toBe(new Date(T0 + 30 * 86_400_000).toISOString());
    expect(parseExpiry('12h', T0)).toBe(new Date(T0 + 12 * 3_600_000).toISOString());
    expect(parseExpiry('2027-01-31', T0)).toBe('2027-01-31T00:00:00.000Z');
    expect(() => parseExpiry('2020-01-01', T0)).toThrow(/in the past/);
    expect(() => parseExpiry('soon', T0)).toThrow(/not an expiry/);
    expect(['day', 'daily', 'Weekly', 'month'].map(parseBudgetPeriod)).toEqual(['day', 'day', 'week', 'month']);
    expect(() => parseBudgetPeriod('year')).toThrow(/day, week or month/);
  });
});

describe('registry', () => {
  it('tells a key in force from a revoked, an expired, an access key and a stranger', () => {
    let { config, secret } = addKey(base(), 'alice', { expires_at: new Date(T0 + 1000).toISOString() }, PEPPER, T0);
    const r = new ClientKeyRegistry(config.client_keys, ['shared-access-key'], PEPPER);
    expect(r.required).toBe(true);
    expect(r.identify(secret, T0)).toMatchObject({ kind: 'key', key: { name: 'alice' } });
    expect(r.identify(secret, T0 + 1000)).toMatchObject({ kind: 'expired' });
    expect(r.identify('shared-access-key', T0)).toEqual({ kind: 'access-key', name: 'access_keys[0]' });
    expect(r.identify(newKeySecret(), T0)).toEqual({ kind: 'unknown' });
    config = revokeKey(config, 'alice', T0);
    expect(new ClientKeyRegistry(config.client_keys, [], PEPPER).identify(secret, T0)).toMatchObject({ kind: 'revoked' });
    // The wrong pepper verifies nothing; no pepper at all is reported as such.
    expect(new ClientKeyRegistry(config.client_keys, [], Buffer.from('x'.repeat(40))).identify(secret, T0)).toEqual({ kind: 'unknown' });
    expect(new ClientKeyRegistry(config.client_keys, [], undefined).unverifiable).toBe(true);
    // Revoking the last key does not open the proxy.
    expect(new ClientKeyRegistry(config.client_keys, [], PEPPER).required).toBe(true);
  });

  it('the pepper: made once (0600, never overwritten), QCC_KEY_PEPPER wins, a damaged file is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qcc-pepper-'));
    const file = join(dir, 'client-key-pepper');
    expect(loadPepper(file, {})).toBeUndefined();
    const made = loadPepper(file, {}, { create: true })!;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadPepper(file, {}, { create: true })).toEqual(made);
    expect(loadPepper(file, { QCC_KEY_PEPPER: 'p'.repeat(32) })).toEqual(Buffer.from('p'.repeat(32)));
    expect(() => loadPepper(file, { QCC_KEY_PEPPER: 'short' })).toThrow(/at least 32/);
    writeFileSync(file, 'garbage');
    expect(() => loadPepper(file, {})).toThrow(/not a key pepper/);
  });
});
