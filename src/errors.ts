import type { ClientResponse } from './server/client.js';

/**
 * The one place Anthropic-shaped error bodies are built. Everything the proxy itself refuses goes through
 * `ProxyError`; an upstream's own error is relayed byte for byte and never passes through here.
 */

/** Anthropic `error.type` values the proxy itself can produce. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'billing_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error'
  | 'timeout_error';

/** Stable codes: tests, logs and the stats store match on these, never on message wording. */
export const ERROR_CODES = {
  bodyTooLarge: { status: 413, type: 'request_too_large' },
  malformedJson: { status: 400, type: 'invalid_request_error' },
  invalidRequest: { status: 400, type: 'invalid_request_error' },
  unauthorized: { status: 401, type: 'authentication_error' },
  notFound: { status: 404, type: 'not_found_error' },
  noEndpoint: { status: 503, type: 'overloaded_error' },
  modelNotServed: { status: 404, type: 'not_found_error' },
  upstreamUnreachable: { status: 502, type: 'api_error' },
  upstreamTimeout: { status: 504, type: 'timeout_error' },
  shuttingDown: { status: 503, type: 'overloaded_error' },
  bodyTimeout: { status: 408, type: 'timeout_error' },
  bodyBufferFull: { status: 503, type: 'overloaded_error' },
  oauthWithheld: { status: 403, type: 'permission_error' },
  // A client key's own limits (keys/limiter.ts). A rate limit is a 429 Claude Code waits out (retry-after); an
  // exhausted budget is a 429 it must not retry (x-should-retry: false), so the message reaches the person at once.
  keyRateLimited: { status: 429, type: 'rate_limit_error' },
  keyBudgetExhausted: { status: 429, type: 'billing_error' },
  keyModelRefused: { status: 403, type: 'permission_error' },
} as const satisfies Record<string, { status: number; type: AnthropicErrorType }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ProxyError extends Error {
  readonly status: number;
  readonly type: AnthropicErrorType;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly retryAfterSeconds?: number,
    /** Headers of its own (the rate-limit headers of a refused client key). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.name = 'ProxyError';
    this.status = ERROR_CODES[code].status;
    this.type = ERROR_CODES[code].type;
  }
}

export function anthropicErrorJson(type: AnthropicErrorType, message: string, requestId?: string): string {
  const body: { type: 'error'; error: { type: string; message: string }; request_id?: string } = {
    type: 'error',
    error: { type, message },
  };
  if (requestId !== undefined) body.request_id = requestId;
  return JSON.stringify(body);
}

/** The SSE form, for failures after a stream has already started (no replay is possible then). */
export function anthropicErrorEvent(type: AnthropicErrorType, message: string): string {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message } })}\n\n`;
}

export function sendProxyError(res: ClientResponse, err: ProxyError, requestId: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = anthropicErrorJson(err.type, err.message, requestId);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'request-id': requestId,
    'x-qcc-request-id': requestId,
  };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = err.retryAfterSeconds;
  if (err.headers !== undefined) Object.assign(headers, err.headers);
  res.writeHead(err.status, headers);
  res.end(body);
}

/** `catch (e: unknown)` helper: a message fit for a log line or a CLI error, never a stack dump. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}
