import { describe, expect, it } from 'vitest';
import { decide, parseRetryAfter, type Outcome } from '../../src/proxy/policy.js';

const own = { endpointOwnsKey: true, countTokens: false };
const passThrough = { endpointOwnsKey: false, countTokens: false };
const counting = { endpointOwnsKey: true, countTokens: true };

const status = (s: number, extra: Partial<Extract<Outcome, { kind: 'status' }>> = {}): Outcome => ({ kind: 'status', status: s, ...extra });
const failure = (f: Extract<Outcome, { kind: 'failure' }>['failure']): Outcome => ({ kind: 'failure', failure: f });

describe('failover decision table', () => {
  it.each([
    // outcome, context, action, penalty, ambiguous
    [status(200), own, 'return', null, false],
    [status(400), own, 'return', null, false],
    [status(404), own, 'return', null, false],
    [status(413), own, 'return', null, false],
    [status(422), own, 'return', null, false],
    [status(401), own, 'failover', 'auth', false],
    [status(403), own, 'failover', 'auth', false],
    [status(402), own, 'failover', 'auth', false],
    [status(401), passThrough, 'return', null, false],
    [status(429, { retryAfterSeconds: 5 }), own, 'failover', 'rate-limit', false],
    [status(429, { errorText: 'You have exceeded your monthly spend limit' }), own, 'failover', 'spend-limit', false],
    [status(429, { errorText: 'Number of request tokens has exceeded your per-minute rate limit', retryAfterSeconds: 10 }), own, 'failover', 'rate-limit', false],
    [status(500), own, 'failover', 'server', false],
    [status(502), own, 'failover', 'server', false],
    [status(503), own, 'failover', 'server', false],
    [status(504), own, 'failover', 'server', false],
    [status(529), own, 'failover', 'overload', false],
    [status(408), own, 'failover', 'timeout', true],
    [failure('connect'), own, 'failover', 'connect', false],
    [failure('first-byte-timeout'), own, 'failover', 'timeout', true],
    [failure('reset'), own, 'failover', 'broken-stream', true],
    [failure('empty-stream'), own, 'failover', 'broken-stream', false],
    [failure('error-event'), own, 'failover', 'broken-stream', false],
    [failure('upstream'), own, 'failover', 'server', true],
    // count_tokens never marks an endpoint unhealthy; its 404 means "not supported here"
    [status(404), counting, 'failover', null, false],
    [status(500), counting, 'failover', null, false],
    [failure('connect'), counting, 'failover', null, false],
    [status(400), counting, 'return', null, false],
  ] as const)('%j (%j) → %s / %s', (outcome, ctx, action, penalty, ambiguous) => {
    expect(decide(outcome, ctx)).toEqual({ action, penalty, ambiguous });
  });
});

describe('retry-after', () => {
  it('reads seconds and HTTP dates, rounding up', () => {
    expect(parseRetryAfter('3')).toBe(3);
    expect(parseRetryAfter('2.1')).toBe(3);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2026-11-28T10:00:00Z');
    expect(parseRetryAfter('Sat, 28 Nov 2026 10:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Sat, 28 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });
});
