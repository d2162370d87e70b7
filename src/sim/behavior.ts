/**
 * Knobs of the simulated Anthropic upstream. A simulator has a default behaviour and an optional script: the
 * n-th `/v1/messages` call takes the n-th scripted entry (merged over the default) until the script runs out,
 * so a test can say "1st: reset, 2nd: 529, 3rd: fine".
 */
export interface SimBehavior {
  /** What GET /v1/models lists (default: the current Claude models). */
  models?: string[];
  /** Answer with this HTTP error status and an Anthropic-shaped error body instead of a message. */
  status?: number;
  /** Error type in the error body; derived from `status` when absent. */
  errorType?: string;
  /** Error message in the body; a test may match on it to check it is relayed verbatim. */
  errorMessage?: string;
  /** `retry-after` header (seconds) sent with an error status. */
  retryAfter?: number;
  /** Milliseconds to wait before sending the status line. */
  latencyMs?: number;
  /** Streaming: after `message_start`, `content_block_start` and `ping`, wait this long before the first delta. */
  stallAfterStartMs?: number;
  /** During that stall, send `event: ping` this often (the real API keeps a quiet stream alive so). */
  stallPingMs?: number;
  /**
   * Every `every`-th messages call (counting from 1) stalls for `ms`: before its status line, or (streaming) after
   * `message_start`. The benchmark's flaky relays.
   */
  stall?: { every: number; ms: number; phase: 'before-headers' | 'after-start' };
  /** Accept the connection and never answer. */
  hang?: boolean;
  /** Destroy the socket before sending any header. */
  resetBeforeHeaders?: boolean;
  /** Streaming: destroy the socket after this many text deltas (0 = right after the headers). */
  resetAfterDeltas?: number;
  /** Streaming: send an `event: error` (overloaded) after this many deltas, then end (0 = as the first event). */
  errorEventAfterDeltas?: number;
  /** Streaming: end the response cleanly, but without `message_stop`, after this many deltas. */
  truncateAfterDeltas?: number;
  /** Number of text deltas the answer is split into. */
  deltas?: number;
  /** Milliseconds between SSE events (a slow trickle). */
  deltaIntervalMs?: number;
  /** Text of the answer; by default a greeting, or what the prompt asks to be echoed. */
  answer?: string;
  /** Usage reported; input tokens default to an estimate from the body size. */
  usage?: Partial<SimUsage>;
  /** Answer with one JSON message even when the request asked for a stream (as some relays do). */
  ignoreStream?: boolean;
  /** Answer 404 not_found_error for these models (a relay that lacks some models). */
  failModels?: string[];
  /** Answer with these tool calls (OpenAI: streamed in interleaved pieces) when the request offers those tools, unless its turn ends in a tool result. */
  toolCalls?: { name: string; arguments: Record<string, unknown> }[];
  /** OpenAI mode: stream this as `reasoning_content` before the answer. */
  reasoning?: string;
  /** Only accept requests carrying this key (as `x-api-key` or `Authorization: Bearer`); 401 otherwise. */
  requireKey?: string;
  /** Extra headers on every answer, e.g. the two dozen (rate limits, request id, CDN) the real API sends. */
  headers?: Record<string, string>;
}

export interface SimUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export function errorTypeForStatus(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return 'api_error';
  }
}
