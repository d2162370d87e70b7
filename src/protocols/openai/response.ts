import type { Usage } from '../messages/sse.js';

/**
 * OpenAI Chat Completions response → Anthropic message (JSON), and OpenAI errors → Anthropic errors with the
 * status kept. Pure; table-tested.
 */

type Json = Record<string, unknown>;

export type StopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'refusal' | 'stop_sequence';

export function stopReason(finish: unknown, sawToolCalls: boolean): StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      // Some services finish a tool-calling turn with "stop": the tool calls are what matters.
      return sawToolCalls ? 'tool_use' : 'end_turn';
  }
}

/** OpenAI counts cached prompt tokens inside prompt_tokens; Anthropic reports them apart. */
export function usageFrom(u: unknown): Usage {
  const usage = (u ?? {}) as Json;
  const cached = Number(((usage.prompt_tokens_details ?? {}) as Json).cached_tokens ?? 0) || 0;
  const prompt = Number(usage.prompt_tokens ?? 0) || 0;
  return {
    input_tokens: Math.max(0, prompt - cached),
    output_tokens: Number(usage.completion_tokens ?? 0) || 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

export function parseArguments(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return { _raw_arguments: args }; // never lose what the model produced, even when it is not JSON
  }
}

export interface ReasoningPolicy {
  /** `thinking`: reasoning text becomes a thinking block; `drop`: it is discarded. Never mixed into text. */
  reasoning: 'thinking' | 'drop';
}

export function toAnthropicMessage(completion: Json, requestModel: string, policy: ReasoningPolicy): Json {
  const choice = (asArray(completion.choices)[0] ?? {}) as Json;
  const message = (choice.message ?? {}) as Json;
  const content: Json[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (policy.reasoning === 'thinking' && typeof reasoning === 'string' && reasoning.length > 0) {
    content.push({ type: 'thinking', thinking: reasoning, signature: '' });
  }
  if (typeof message.content === 'string' && message.content.length > 0) content.push({ type: 'text', text: message.content });
  const calls = asArray(message.tool_calls);
  for (const call of calls) {
    const fn = (call.function ?? {}) as Json;
    content.push({ type: 'tool_use', id: String(call.id ?? `toolu_${content.length}`), name: String(fn.name ?? ''), input: parseArguments(String(fn.arguments ?? '')) });
  }
  return {
    id: `msg_${String(completion.id ?? 'openai')}`,
    type: 'message',
    role: 'assistant',
    model: requestModel,
    content,
    stop_reason: stopReason(choice.finish_reason, calls.length > 0),
    stop_sequence: null,
    usage: usageFrom(completion.usage),
  };
}

function asArray(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** An OpenAI-style error body (or anything else) as an Anthropic error body; the status stays the same. */
export function toAnthropicError(status: number, body: Buffer): string {
  let message = body.toString('utf8').slice(0, 2000) || `upstream returned HTTP ${status}`;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Json;
    const err = (parsed.error ?? parsed) as Json;
    if (typeof err.message === 'string') message = err.message;
  } catch {
    /* not JSON: keep the text */
  }
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return JSON.stringify({ type: 'error', error: { type, message } });
}
