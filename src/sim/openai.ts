import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { SimBehavior } from './behavior.js';

/**
 * The simulator's OpenAI Chat Completions mode (`POST …/v1/chat/completions`): JSON and streaming, text,
 * reasoning, tool calls streamed in interleaved pieces, usage in the last chunk, OpenAI error shapes.
 */

type Json = Record<string, unknown>;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function openAIErrorBody(status: number, message: string): string {
  const type = status === 429 ? 'rate_limit_exceeded' : status === 401 ? 'invalid_api_key' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return JSON.stringify({ error: { message, type, code: type, param: null } });
}

function lastMessage(body: Json): Json | undefined {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
  return messages.at(-1);
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return (content as Json[]).map((p) => (p.type === 'text' ? String(p.text) : '')).join('\n');
  return '';
}

const ECHO = /reply with exactly[:\s]+([^\n]+?)\s*$/i;

function answerFor(name: string, body: Json, behavior: SimBehavior): string {
  const last = lastMessage(body);
  if (last?.role === 'tool') return `Tool result: ${textOf(last.content).trim()}`;
  if (behavior.answer !== undefined) return behavior.answer;
  const echo = ECHO.exec(textOf(last?.content));
  if (echo?.[1]) return echo[1];
  return `Hi! This is ${name}, a simulated OpenAI-compatible endpoint answering through qcc.`;
}

function split(text: string, parts: number): string[] {
  if (text.length === 0) return [];
  const size = Math.ceil(text.length / Math.max(1, parts));
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export async function handleChatCompletions(res: ServerResponse, raw: Buffer, body: Json, behavior: SimBehavior, name: string): Promise<void> {
  const model = String(body.model ?? 'gpt-sim');
  // Call tools only when the request offers them by name (Claude Code also sends tool-less side requests).
  const offered = new Set((Array.isArray(body.tools) ? (body.tools as Json[]) : []).map((t) => String((t.function as Json | undefined)?.name)));
  const wantsTools = behavior.toolCalls !== undefined && lastMessage(body)?.role !== 'tool' && behavior.toolCalls.every((c) => offered.has(c.name));
  const text = wantsTools ? '' : answerFor(name, body, behavior);
  const pieces = split(text, behavior.deltas ?? 6);
  const calls = wantsTools ? behavior.toolCalls!.map((c, i) => ({ id: `call_${i}_${randomBytes(4).toString('hex')}`, name: c.name, args: JSON.stringify(c.arguments) })) : [];
  const cached = behavior.usage?.cache_read_input_tokens ?? 0;
  const usage = {
    prompt_tokens: (behavior.usage?.input_tokens ?? Math.max(1, Math.ceil(raw.length / 4))) + cached,
    completion_tokens: behavior.usage?.output_tokens ?? Math.max(1, pieces.length + calls.length * 3),
    total_tokens: 0,
    prompt_tokens_details: { cached_tokens: cached },
  };
  usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
  const finish = calls.length > 0 ? 'tool_calls' : 'stop';
  const id = `chatcmpl-${randomBytes(6).toString('hex')}`;

  if (body.stream !== true || behavior.ignoreStream === true) {
    const message: Json = { role: 'assistant', content: calls.length > 0 ? null : text };
    if (behavior.reasoning) message.reasoning_content = behavior.reasoning;
    if (calls.length > 0) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }));
    const out = JSON.stringify({ id, object: 'chat.completion', created: 0, model, choices: [{ index: 0, message, finish_reason: finish }], usage });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
    return;
  }

  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const interval = behavior.deltaIntervalMs ?? 0;
  const chunk = (delta: Json, finishReason: string | null = null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
  const events: string[] = [chunk({ role: 'assistant', content: '' })];
  if (behavior.reasoning) for (const r of split(behavior.reasoning, 3)) events.push(chunk({ reasoning_content: r }));
  for (const p of pieces) events.push(chunk({ content: p }));
  // Tool calls: the header of each, then their argument pieces interleaved across calls.
  calls.forEach((c, i) => events.push(chunk({ tool_calls: [{ index: i, id: c.id, type: 'function', function: { name: c.name, arguments: '' } }] })));
  const argPieces = calls.map((c) => split(c.args, 4));
  for (let k = 0; k < Math.max(0, ...argPieces.map((p) => p.length)); k++) {
    argPieces.forEach((p, i) => {
      if (p[k] !== undefined) events.push(chunk({ tool_calls: [{ index: i, function: { arguments: p[k] } }] }));
    });
  }
  events.push(chunk({}, finish));
  events.push(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 0, model, choices: [], usage })}\n\n`);
  events.push('data: [DONE]\n\n');
  for (let i = 0; i < events.length; i++) {
    if (res.destroyed) return;
    if (behavior.resetAfterDeltas === i) return void res.socket?.destroy();
    if (behavior.errorEventAfterDeltas === i) return void res.end(`data: ${JSON.stringify({ error: { message: 'simulated stream error', type: 'server_error' } })}\n\n`);
    if (behavior.truncateAfterDeltas === i) return void res.end();
    if (interval > 0) await delay(interval);
    res.write(events[i]);
  }
  res.end();
}
