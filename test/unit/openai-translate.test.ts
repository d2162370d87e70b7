import { describe, expect, it } from 'vitest';
import { toOpenAIRequest } from '../../src/protocols/openai/request.js';
import { stopReason, toAnthropicError, toAnthropicMessage, usageFrom } from '../../src/protocols/openai/response.js';
import { StreamTranslator } from '../../src/protocols/openai/stream.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';

const OPTS = { model: 'vendor-model', mapEffort: false };

describe('request translation', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    [
      'system string and a plain user turn',
      { model: 'claude-opus-4-8', max_tokens: 10, system: 'be brief', messages: [{ role: 'user', content: 'hi' }] },
      { model: 'vendor-model', max_tokens: 10, messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }] },
    ],
    [
      'system blocks with cache_control, joined; mid-conversation system entry kept in place',
      {
        max_tokens: 5,
        system: [{ type: 'text', text: 'a', cache_control: { type: 'ephemeral' } }, { type: 'text', text: 'b' }],
        messages: [{ role: 'user', content: [{ type: 'text', text: 'q', cache_control: { type: 'ephemeral' } }] }, { role: 'system', content: 'agents: x' }],
      },
      { model: 'vendor-model', max_tokens: 5, messages: [{ role: 'system', content: 'a\n\nb' }, { role: 'user', content: 'q' }, { role: 'system', content: 'agents: x' }] },
    ],
    [
      'assistant tool_use → tool_calls; tool_result (error marked) → tool messages first, in order',
      {
        max_tokens: 5,
        messages: [
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 's' }, { type: 'text', text: 'checking' }, { type: 'tool_use', id: 't1', name: 'Read', input: { path: 'a' } }, { type: 'tool_use', id: 't2', name: 'Bash', input: { command: 'ls' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'file a' }, { type: 'tool_result', tool_use_id: 't2', is_error: true, content: [{ type: 'text', text: 'denied' }] }, { type: 'text', text: 'go on' }] },
        ],
      },
      {
        model: 'vendor-model',
        max_tokens: 5,
        messages: [
          { role: 'assistant', content: 'checking', tool_calls: [{ id: 't1', type: 'function', function: { name: 'Read', arguments: '{"path":"a"}' } }, { id: 't2', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } }] },
          { role: 'tool', tool_call_id: 't1', content: 'file a' },
          { role: 'tool', tool_call_id: 't2', content: 'Error: denied' },
          { role: 'user', content: 'go on' },
        ],
      },
    ],
    [
      'images as data URLs next to text',
      { max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAA' } }, { type: 'text', text: 'what?' }] }] },
      { model: 'vendor-model', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAA' } }, { type: 'text', text: 'what?' }] }] },
    ],
    [
      'tools, tool_choice any, sampling, stop, stream with usage; Anthropic-only fields dropped',
      {
        max_tokens: 64000, temperature: 0.5, top_p: 0.9, stop_sequences: ['END'], stream: true,
        thinking: { type: 'adaptive' }, metadata: { user_id: 'u' }, context_management: { edits: [] }, output_config: { effort: 'high' },
        tools: [{ name: 'Read', description: 'read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }, { type: 'web_search_20250305', name: 'web_search' }],
        tool_choice: { type: 'any', disable_parallel_tool_use: true },
        messages: [{ role: 'user', content: 'x' }],
      },
      {
        model: 'vendor-model', max_tokens: 64000, temperature: 0.5, top_p: 0.9, stop: ['END'], stream: true, stream_options: { include_usage: true },
        tools: [{ type: 'function', function: { name: 'Read', description: 'read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } } }],
        tool_choice: 'required', parallel_tool_calls: false,
        messages: [{ role: 'user', content: 'x' }],
      },
    ],
  ])('%s', (_label, input, expected) => {
    expect(toOpenAIRequest(input, OPTS)).toEqual(expected);
  });

  it('maps tool_choice tool/none/auto, and effort only when configured', () => {
    const base = { max_tokens: 1, messages: [], tools: [{ name: 'T', input_schema: {} }], output_config: { effort: 'medium' } };
    expect(toOpenAIRequest({ ...base, tool_choice: { type: 'tool', name: 'T' } }, OPTS).tool_choice).toEqual({ type: 'function', function: { name: 'T' } });
    expect(toOpenAIRequest({ ...base, tool_choice: { type: 'none' } }, OPTS).tool_choice).toBe('none');
    expect(toOpenAIRequest({ ...base, tool_choice: { type: 'auto' } }, OPTS).tool_choice).toBe('auto');
    expect(toOpenAIRequest(base, OPTS).reasoning_effort).toBeUndefined();
    expect(toOpenAIRequest(base, { ...OPTS, mapEffort: true }).reasoning_effort).toBe('medium');
  });
});

describe('response translation (JSON)', () => {
  it.each([
    ['stop', false, 'end_turn'],
    ['length', false, 'max_tokens'],
    ['tool_calls', true, 'tool_use'],
    ['content_filter', false, 'refusal'],
    ['stop', true, 'tool_use'],
    [null, false, 'end_turn'],
  ] as const)('finish_reason %s (tool calls: %s) → %s', (finish, tools, expected) => {
    expect(stopReason(finish, tools)).toBe(expected);
  });

  it('turns a completion with reasoning, text and tool calls into content blocks, usage split out', () => {
    const msg = toAnthropicMessage(
      {
        id: 'x1',
        choices: [{ finish_reason: 'tool_calls', message: { reasoning_content: 'think', content: 'let me look', tool_calls: [{ id: 'c1', function: { name: 'Read', arguments: '{"path":"a"}' } }, { id: 'c2', function: { name: 'Bad', arguments: '{oops' } }] } }],
        usage: { prompt_tokens: 100, completion_tokens: 7, prompt_tokens_details: { cached_tokens: 60 } },
      },
      'claude-opus-4-8',
      { reasoning: 'thinking' },
    );
    expect(msg).toMatchObject({
      type: 'message',
      model: 'claude-opus-4-8',
      stop_reason: 'tool_use',
      content: [
        { type: 'thinking', thinking: 'think' },
        { type: 'text', text: 'let me look' },
        { type: 'tool_use', id: 'c1', name: 'Read', input: { path: 'a' } },
        { type: 'tool_use', id: 'c2', name: 'Bad', input: { _raw_arguments: '{oops' } },
      ],
      usage: { input_tokens: 40, output_tokens: 7, cache_read_input_tokens: 60, cache_creation_input_tokens: 0 },
    });
    const dropped = toAnthropicMessage({ choices: [{ message: { reasoning_content: 'think', content: 'hi' } }] }, 'm', { reasoning: 'drop' });
    expect(dropped.content).toEqual([{ type: 'text', text: 'hi' }]);
  });

  it('keeps the status and message of errors, in Anthropic shape', () => {
    expect(JSON.parse(toAnthropicError(429, Buffer.from('{"error":{"message":"slow down","type":"rate_limit_exceeded"}}')))).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
    expect(JSON.parse(toAnthropicError(502, Buffer.from('<html>bad gateway</html>')))).toEqual({ type: 'error', error: { type: 'api_error', message: '<html>bad gateway</html>' } });
    expect(usageFrom(undefined)).toEqual({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });
});

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });

function translate(chunks: string[], reasoning: 'thinking' | 'drop' = 'thinking'): string {
  const t = new StreamTranslator('claude-opus-4-8', { reasoning });
  let out = '';
  for (const c of chunks) out += t.push(c);
  return out + t.finish();
}

describe('stream translation', () => {
  it('text only: one message_start, one text block, usage, message_stop', () => {
    const out = translate([chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hel' }), chunk({ content: 'lo' }), chunk({}, 'stop'), JSON.stringify({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } }), '[DONE]']);
    const events = validateAnthropicStream(out);
    const text = events.filter((e) => e.event === 'content_block_delta').map((e) => (e.data.delta as { text: string }).text).join('');
    expect(text).toBe('Hello');
    const delta = events.find((e) => e.event === 'message_delta')!.data;
    expect(delta).toMatchObject({ delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 9, output_tokens: 2 } });
  });

  it('several tool calls with interleaved argument pieces: one block each, arguments in order', () => {
    const out = translate([
      chunk({ content: 'Using tools.' }),
      chunk({ tool_calls: [{ index: 0, id: 'c0', function: { name: 'Read', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 1, id: 'c1', function: { name: 'Bash', arguments: '' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"pa' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: '{"comm' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: 'th":"a"}' } }] }),
      chunk({ tool_calls: [{ index: 1, function: { arguments: 'and":"ls"}' } }] }),
      chunk({}, 'tool_calls'),
      '[DONE]',
    ]);
    const events = validateAnthropicStream(out);
    const blocks = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block as { type: string; name?: string; id?: string });
    expect(blocks.map((b) => [b.type, b.name, b.id])).toEqual([['text', undefined, undefined], ['tool_use', 'Read', 'c0'], ['tool_use', 'Bash', 'c1']]);
    const args = (index: number) => events.filter((e) => e.event === 'content_block_delta' && e.data.index === index).map((e) => (e.data.delta as { partial_json: string }).partial_json).join('');
    expect(JSON.parse(args(1))).toEqual({ path: 'a' });
    expect(JSON.parse(args(2))).toEqual({ command: 'ls' });
    expect(events.find((e) => e.event === 'message_delta')!.data.delta).toMatchObject({ stop_reason: 'tool_use' });
  });

  it('reasoning becomes its own thinking block, never mixed into text; or is dropped', () => {
    const chunks = [chunk({ reasoning_content: 'let me ' }), chunk({ reasoning_content: 'think' }), chunk({ content: 'answer' }), chunk({}, 'stop'), '[DONE]'];
    const events = validateAnthropicStream(translate(chunks));
    expect(events.filter((e) => e.event === 'content_block_start').map((e) => (e.data.content_block as { type: string }).type)).toEqual(['thinking', 'text']);
    const dropped = validateAnthropicStream(translate(chunks, 'drop'));
    expect(dropped.filter((e) => e.event === 'content_block_start').map((e) => (e.data.content_block as { type: string }).type)).toEqual(['text']);
    expect(JSON.stringify(dropped)).not.toContain('think');
  });

  it('a stream with no content still makes a valid, empty message', () => {
    validateAnthropicStream(translate([chunk({}, 'stop'), '[DONE]']));
  });

  it('an upstream error chunk becomes an Anthropic error event and ends the translation', () => {
    const t = new StreamTranslator('m', { reasoning: 'drop' });
    const out = t.push(chunk({ content: 'a' })) + t.push(JSON.stringify({ error: { message: 'boom' } }));
    expect(out).toContain('event: error');
    expect(out).toContain('boom');
    expect(t.hasEnded).toBe(true);
    expect(t.finish()).toBe('');
  });

  it('the validator itself rejects the classic translation bugs', () => {
    const start = 'event: message_start\ndata: {"type":"message_start","message":{}}\n\n';
    const stop = 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    const block = (i: number, type: string) => `event: content_block_start\ndata: {"type":"content_block_start","index":${i},"content_block":{"type":"${type}"}}\n\n`;
    const delta = (i: number, type: string) => `event: content_block_delta\ndata: {"type":"content_block_delta","index":${i},"delta":{"type":"${type}"}}\n\n`;
    const end = (i: number) => `event: content_block_stop\ndata: {"type":"content_block_stop","index":${i}}\n\n`;
    expect(() => validateAnthropicStream(start + block(0, 'text') + delta(0, 'thinking_delta') + end(0) + stop)).toThrow(/thinking_delta inside a text block/);
    expect(() => validateAnthropicStream(start + start + stop)).toThrow(/2 message_start/);
    expect(() => validateAnthropicStream(start + end(0) + stop)).toThrow(/not open/);
    expect(() => validateAnthropicStream(start + block(0, 'text') + end(0) + stop.replace(',"usage":{"output_tokens":1}', ''))).toThrow(/without usage/);
    expect(() => validateAnthropicStream(start + block(1, 'text') + end(1) + stop)).toThrow(/expected 0/);
  });
});
