import type { FailureKind } from '../protocols/contract.js';

/**
 * The failover decision, as one pure function over (what happened, in which phase). It is the whole of
 * `shared/reference/failure-policy.md` in code and is tested as a table.
 */

import type { Penalty } from '../endpoints/penalty.js';

export type { Penalty };

export type Outcome =
  | { kind: 'status'; status: number; retryAfterSeconds?: number | undefined; errorText?: string | undefined }
  | { kind: 'failure'; failure: FailureKind };

export interface PolicyContext {
  /** The endpoint authenticates with its own key (else the client's credentials were passed through). */
  endpointOwnsKey: boolean;
  /** `count_tokens`: its failures never count against an endpoint, and 404 means "not supported here". */
  countTokens: boolean;
}

export interface Decision {
  /** `return`: relay this response to the client as it is. `failover`: try the next candidate. */
  action: 'return' | 'failover';
  /** What the endpoint's breaker should record; null means the endpoint is not at fault. */
  penalty: Penalty | null;
  /** The upstream may already have started work (and billing): such failovers draw on the retry budget. */
  ambiguous: boolean;
}

const SPEND_LIMIT_WORDING = /(quota|spend|billing|credit|insufficient|exceeded your|usage limit)/i;

const RETURN: Decision = { action: 'return', penalty: null, ambiguous: false };

function failover(penalty: Penalty | null, ambiguous = false): Decision {
  return { action: 'failover', penalty, ambiguous };
}

export function decide(outcome: Outcome, ctx: PolicyContext): Decision {
  const decision = decideRaw(outcome, ctx);
  // count_tokens is advisory: never let it mark an endpoint unhealthy.
  return ctx.countTokens && decision.penalty !== null ? { ...decision, penalty: null } : decision;
}

function decideRaw(outcome: Outcome, ctx: PolicyContext): Decision {
  if (outcome.kind === 'failure') {
    switch (outcome.failure) {
      case 'connect':
        return failover('connect');
      case 'first-byte-timeout':
        return failover('timeout', true);
      case 'reset':
        return failover('broken-stream', true);
      case 'empty-stream':
      case 'error-event':
        return failover('broken-stream');
      case 'upstream':
        return failover('server', true);
    }
  }
  const { status } = outcome;
  if (status < 400) return RETURN;
  if (status === 401 || status === 402 || status === 403) {
    // With the client's own credentials passed through, a rejection is the client's business.
    return ctx.endpointOwnsKey ? failover('auth') : RETURN;
  }
  if (status === 404 && ctx.countTokens) return failover(null);
  if (status === 408) return failover('timeout', true);
  if (status === 429) {
    const spend = outcome.retryAfterSeconds === undefined && SPEND_LIMIT_WORDING.test(outcome.errorText ?? '');
    return failover(spend ? 'spend-limit' : 'rate-limit');
  }
  if (status === 529) return failover('overload');
  if (status >= 500) return failover('server');
  // 400, 404, 413, 422 and the rest of 4xx: the request itself is at fault; another endpoint would agree.
  return RETURN;
}

/**
 * `retry-after` as whole seconds, from either form HTTP allows (seconds or an HTTP date). Undefined when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const seconds = Number(v);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - nowMs) / 1000));
}

/** Claude Code stops retrying above 60 s, so a relayed `retry-after` is capped there. */
export const MAX_RELAYED_RETRY_AFTER_SECONDS = 60;
