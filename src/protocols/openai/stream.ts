import { randomBytes } from 'node:crypto';
import { emptyUsage, type Usage } from '../messages/sse.js';
import { stopReason, usageFrom, type ReasoningPolicy } from './response.js';

/**
 * OpenAI Chat Completions stream → Anthropic Messages stream, one chunk at a time, built so that Claude Code's
 * strict parser never sees a malformed sequence: exactly one `message_start`; blocks one after another with
 * contiguous indices, each started before its deltas and stopped exactly once; reasoning in its own thinking
 * block, never inside text; `message_delta` always carries usage; `message_stop` last.
 *
 * Text and reasoning stream live. Tool calls are collected per call — services interleave the argument pieces
 * of parallel calls, and an Anthropic block cannot be reopened once stopped — and emitted when the upstream
 * turn ends, each as its own `tool_use` block whose `input_json_delta`s are the streamed pieces in order.
 */

type Json = Record<string, unknown>;

interface ToolCall {
  id: string;
  name: string;
  pieces: string[];
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class StreamTranslator {
  private started = false;
  private open: { index: number; type: 'text' | 'thinking' } | undefined;
  private nextIndex = 0;
  private readonly tools = new Map<number, ToolCall>();
  private finishReason: unknown;
  private ended = false;
  /** The upstream turn is known to be over (`finish_reason` or `[DONE]` seen). */
  complete = false;
  usage: Usage = emptyUsage();
  private readonly messageId = `msg_${randomBytes(12).toString('hex')}`;

  constructor(
    private readonly requestModel: string,
    private readonly policy: ReasoningPolicy,
  ) {}

  /** One SSE `data:` payload from upstream; returns Anthropic events to send (possibly none). */
  push(data: string): string {
    if (this.ended) return '';
    if (data.trim() === '[DONE]') {
      this.complete = true;
      return '';
    }
    let chunk: Json;
    try {
      chunk = JSON.parse(data) as Json;
    } catch {
      return ''; // a keep-alive or garbage line: nothing to translate
    }
    let out = this.start();
    if (chunk.error) {
      const err = chunk.error as Json;
      this.ended = true;
      return out + event('error', { type: 'error', error: { type: 'api_error', message: String(err.message ?? 'upstream stream error') } });
    }
    if (chunk.usage) this.usage = usageFrom(chunk.usage);
    const choice = (Array.isArray(chunk.choices) ? chunk.choices[0] : undefined) as Json | undefined;
    if (!choice) return out;
    const delta = (choice.delta ?? {}) as Json;
    const reasoning = delta.reasoning_content ?? delta.reasoning;
    if (typeof reasoning === 'string' && reasoning.length > 0 && this.policy.reasoning === 'thinking') {
      out += this.ensureOpen('thinking') + event('content_block_delta', { type: 'content_block_delta', index: this.open!.index, delta: { type: 'thinking_delta', thinking: reasoning } });
    }
    if (typeof delta.content === 'string' && delta.content.length > 0) {
      out += this.ensureOpen('text') + event('content_block_delta', { type: 'content_block_delta', index: this.open!.index, delta: { type: 'text_delta', text: delta.content } });
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const call of delta.tool_calls as Json[]) {
        const idx = typeof call.index === 'number' ? call.index : this.tools.size;
        let tool = this.tools.get(idx);
        if (!tool) this.tools.set(idx, (tool = { id: '', name: '', pieces: [] }));
        if (typeof call.id === 'string' && call.id) tool.id = call.id;
        const fn = (call.function ?? {}) as Json;
        if (typeof fn.name === 'string' && fn.name) tool.name += tool.name ? '' : fn.name;
        if (typeof fn.arguments === 'string' && fn.arguments.length > 0) tool.pieces.push(fn.arguments);
      }
    }
    if (choice.finish_reason !== undefined && choice.finish_reason !== null) {
      this.finishReason = choice.finish_reason;
      this.complete = true;
    }
    return out;
  }

  /** Close the message: the open block, the collected tool calls, `message_delta` with usage, `message_stop`. */
  finish(): string {
    if (this.ended) return '';
    let out = this.start() + this.closeOpen();
    for (const tool of this.tools.values()) {
      const index = this.nextIndex++;
      const id = tool.id || `toolu_${randomBytes(12).toString('hex')}`;
      out += event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id, name: tool.name, input: {} } });
      for (const piece of tool.pieces) out += event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } });
      out += event('content_block_stop', { type: 'content_block_stop', index });
    }
    out += event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stopReason(this.finishReason, this.tools.size > 0), stop_sequence: null },
      usage: { ...this.usage },
    });
    out += event('message_stop', { type: 'message_stop' });
    this.ended = true;
    return out;
  }

  get hasEnded(): boolean {
    return this.ended;
  }

  private start(): string {
    if (this.started) return '';
    this.started = true;
    return event('message_start', {
      type: 'message_start',
      message: { id: this.messageId, type: 'message', role: 'assistant', model: this.requestModel, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
    });
  }

  private ensureOpen(type: 'text' | 'thinking'): string {
    if (this.open?.type === type) return '';
    const out = this.closeOpen();
    this.open = { index: this.nextIndex++, type };
    const block = type === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    return out + event('content_block_start', { type: 'content_block_start', index: this.open.index, content_block: block });
  }

  private closeOpen(): string {
    if (!this.open) return '';
    const out = event('content_block_stop', { type: 'content_block_stop', index: this.open.index });
    this.open = undefined;
    return out;
  }
}
