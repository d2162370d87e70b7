/**
 * Anthropic Messages request → OpenAI Chat Completions request. Pure; table-tested.
 *
 * What maps: `system` (string or blocks) and mid-conversation `role: "system"` entries → system messages;
 * text and image blocks; assistant `tool_use` → `tool_calls`; user `tool_result` → `tool` messages (in order,
 * errors marked); `tools` → functions; `tool_choice`; `max_tokens`, `temperature`, `top_p`, `stop_sequences`,
 * `stream` (+ usage in the last chunk). What is dropped: `thinking` blocks and settings, `cache_control`,
 * `metadata`, `context_management` and other Anthropic-only fields; `output_config.effort` becomes
 * `reasoning_effort` only when the endpoint asks for it.
 */

type Json = Record<string, unknown>;

export interface OpenAIMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | OpenAIContentPart[] | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export type OpenAIContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export interface TranslateOptions {
  /** The model name the endpoint wants (after its `model_map`). */
  model: string;
  /** Map `output_config.effort` to `reasoning_effort`. */
  mapEffort: boolean;
}

const asArray = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

function blockText(content: unknown): string {
  if (typeof content === 'string') return content;
  return asArray(content)
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('\n\n');
}

function imagePart(block: Json): OpenAIContentPart | undefined {
  const source = block.source as Json | undefined;
  if (!source) return undefined;
  if (source.type === 'base64') return { type: 'image_url', image_url: { url: `data:${String(source.media_type)};base64,${String(source.data)}` } };
  if (source.type === 'url') return { type: 'image_url', image_url: { url: String(source.url) } };
  return undefined;
}

function toolResultContent(block: Json): string {
  const text = typeof block.content === 'string' ? block.content : blockText(block.content);
  return block.is_error === true ? `Error: ${text}` : text;
}

function userMessages(content: unknown): OpenAIMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const out: OpenAIMessage[] = [];
  const parts: OpenAIContentPart[] = [];
  // Tool results must directly follow the assistant message that called the tools, so they go first, in order.
  for (const block of asArray(content)) {
    if (block.type === 'tool_result') out.push({ role: 'tool', tool_call_id: String(block.tool_use_id), content: toolResultContent(block) });
    else if (block.type === 'text' && typeof block.text === 'string') parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image') {
      const img = imagePart(block);
      if (img) parts.push(img);
    }
  }
  if (parts.length > 0) {
    const onlyText = parts.every((p) => p.type === 'text');
    out.push({ role: 'user', content: onlyText ? parts.map((p) => (p as { text: string }).text).join('\n\n') : parts });
  }
  return out;
}

function assistantMessage(content: unknown): OpenAIMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  const text: string[] = [];
  const calls: NonNullable<OpenAIMessage['tool_calls']> = [];
  for (const block of asArray(content)) {
    if (block.type === 'text' && typeof block.text === 'string') text.push(block.text);
    else if (block.type === 'tool_use') {
      calls.push({ id: String(block.id), type: 'function', function: { name: String(block.name), arguments: JSON.stringify(block.input ?? {}) } });
    }
    // thinking / redacted_thinking blocks carry Anthropic signatures: meaningless elsewhere, dropped.
  }
  const message: OpenAIMessage = { role: 'assistant', content: text.length > 0 ? text.join('\n\n') : null };
  if (calls.length > 0) message.tool_calls = calls;
  return message;
}

function toolChoice(choice: unknown): unknown {
  const c = choice as Json | undefined;
  switch (c?.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { type: 'function', function: { name: String(c.name) } };
    default:
      return undefined;
  }
}

export function toOpenAIRequest(body: Json, opts: TranslateOptions): Json {
  const messages: OpenAIMessage[] = [];
  const system = blockText(body.system);
  if (system) messages.push({ role: 'system', content: system });
  for (const m of asArray(body.messages)) {
    if (m.role === 'user') messages.push(...userMessages(m.content));
    else if (m.role === 'assistant') messages.push(assistantMessage(m.content));
    else if (m.role === 'system') messages.push({ role: 'system', content: blockText(m.content) });
  }
  const out: Json = { model: opts.model, messages };
  if (typeof body.max_tokens === 'number') out.max_tokens = body.max_tokens;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  const tools = asArray(body.tools).filter((t) => typeof t.name === 'string' && t.input_schema !== undefined);
  if (tools.length > 0) {
    out.tools = tools.map((t) => ({
      type: 'function',
      function: { name: t.name, ...(typeof t.description === 'string' && { description: t.description }), parameters: t.input_schema },
    }));
    const choice = toolChoice(body.tool_choice);
    if (choice !== undefined) out.tool_choice = choice;
    if ((body.tool_choice as Json | undefined)?.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  }
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  const effort = (body.output_config as Json | undefined)?.effort;
  if (opts.mapEffort && typeof effort === 'string') out.reasoning_effort = effort === 'max' ? 'high' : effort;
  return out;
}
