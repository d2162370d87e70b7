import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { Harness, endpoint } from '../helpers/servers.js';
import { validateAnthropicStream } from '../helpers/stream-validator.js';

const h = new Harness();
afterEach(() => h.closeAll());

const MESSAGE = { model: 'claude-sonnet-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Reply with exactly: purple-otter' }] };
const TOOLS = [
  { name: 'Read', description: 'read a file', input_schema: { type: 'object' as const, properties: { path: { type: 'string' } } } },
  { name: 'Bash', description: 'run a command', input_schema: { type: 'object' as const, properties: { command: { type: 'string' } } } },
];

async function openaiProxy(behavior = {}, extra: Record<string, unknown> = {}) {
  const sim = await h.sim({ name: 'oai', behavior });
  const { url, app } = await h.proxy({ version: 1, endpoints: [endpoint('oai', sim, { protocol: 'openai', api_key: 'sk-openai-key', model_map: { 'claude-sonnet-5': 'gpt-sim-large' }, ...extra })] });
  return { sim, url, app, client: new Anthropic({ baseURL: url, apiKey: 'client', maxRetries: 0 }) };
}

describe('OpenAI-protocol endpoints through the official SDK', () => {
  it('non-streaming: same text and usage, sent as Chat Completions with Bearer auth and the mapped model', async () => {
    const { sim, client } = await openaiProxy({ usage: { input_tokens: 50, output_tokens: 9, cache_read_input_tokens: 20 } });
    const msg = await client.messages.create(MESSAGE);
    expect(msg.content).toEqual([{ type: 'text', text: 'purple-otter' }]);
    expect(msg.model).toBe('claude-sonnet-5');
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.usage).toMatchObject({ input_tokens: 50, output_tokens: 9, cache_read_input_tokens: 20 });
    const sent = sim.requests.at(-1)!;
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.headers.authorization).toBe('Bearer sk-openai-key');
    expect(sent.headers['x-api-key']).toBeUndefined();
    expect(JSON.parse(sent.body.toString())).toMatchObject({ model: 'gpt-sim-large', messages: [{ role: 'user', content: 'Reply with exactly: purple-otter' }] });
  });

  it('streaming: a well-formed Anthropic stream with the same text and usage', async () => {
    const { url, client } = await openaiProxy({ deltas: 5, usage: { input_tokens: 30, output_tokens: 5 } });
    const text = await client.messages.stream(MESSAGE).finalText();
    expect(text).toBe('purple-otter');
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = validateAnthropicStream(await res.body.text());
    expect(events.find((e) => e.event === 'message_delta')!.data.usage).toMatchObject({ input_tokens: 30, output_tokens: 5 });
  });

  it('an endpoint that ignores the stream flag and answers JSON: the client that asked for a stream gets one', async () => {
    const { url, client } = await openaiProxy({ ignoreStream: true, usage: { input_tokens: 40, output_tokens: 6 } });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }), headers: { 'content-type': 'application/json' } });
    expect(res.headers['content-type']).toContain('text/event-stream');
    const events = validateAnthropicStream(await res.body.text());
    expect(events.find((e) => e.event === 'content_block_delta')!.data.delta).toEqual({ type: 'text_delta', text: 'purple-otter' });
    expect(await client.messages.stream(MESSAGE).finalText()).toBe('purple-otter');
    // A client that asked for JSON still gets JSON.
    expect((await client.messages.create(MESSAGE)).content).toEqual([{ type: 'text', text: 'purple-otter' }]);
  });

  it('tool calls, streamed in interleaved pieces, arrive as tool_use blocks with the right inputs (stream and JSON)', async () => {
    const toolCalls = [{ name: 'Read', arguments: { path: '/etc/hostname' } }, { name: 'Bash', arguments: { command: 'ls -la /tmp' } }];
    const { url, client } = await openaiProxy({ toolCalls });
    const streamed = await client.messages.stream({ ...MESSAGE, tools: TOOLS }).finalMessage();
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.content.map((b) => (b.type === 'tool_use' ? [b.name, b.input] : [b.type]))).toEqual([
      ['Read', { path: '/etc/hostname' }],
      ['Bash', { command: 'ls -la /tmp' }],
    ]);
    const json = await client.messages.create({ ...MESSAGE, tools: TOOLS });
    expect(json.content.filter((b) => b.type === 'tool_use').map((b) => (b as { input: unknown }).input)).toEqual([{ path: '/etc/hostname' }, { command: 'ls -la /tmp' }]);
    const raw = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, tools: TOOLS, stream: true }) });
    validateAnthropicStream(await raw.body.text());
  });

  it('a tool result goes back as a tool message and the answer uses it', async () => {
    const { sim, client } = await openaiProxy({ toolCalls: [{ name: 'Bash', arguments: { command: 'date' } }] });
    const first = await client.messages.create({ ...MESSAGE, tools: TOOLS });
    const call = first.content.find((b) => b.type === 'tool_use') as { id: string };
    const second = await client.messages.create({
      ...MESSAGE,
      tools: TOOLS,
      messages: [...MESSAGE.messages, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Sat Nov 28' }] }],
    });
    expect(second.content).toEqual([{ type: 'text', text: 'Tool result: Sat Nov 28' }]);
    const sent = JSON.parse(sim.requests.at(-1)!.body.toString()) as { messages: { role: string; tool_call_id?: string }[] };
    expect(sent.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(sent.messages[2]!.tool_call_id).toBe(call.id);
  });

  it('reasoning streams as a thinking block, or is dropped, by config', async () => {
    const { client, url } = await openaiProxy({ reasoning: 'pondering deeply' });
    const msg = await client.messages.stream(MESSAGE).finalMessage();
    expect(msg.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    const raw = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }) });
    validateAnthropicStream(await raw.body.text());
    const dropped = await openaiProxy({ reasoning: 'pondering deeply' }, { openai: { reasoning: 'drop' } });
    const msg2 = await dropped.client.messages.stream(MESSAGE).finalMessage();
    expect(msg2.content.map((b) => b.type)).toEqual(['text']);
    expect(JSON.stringify(msg2)).not.toContain('pondering');
  });

  it('errors keep their status (429 with retry-after) in Anthropic shape', async () => {
    const { url } = await openaiProxy({ status: 429, retryAfter: 7, errorMessage: 'Rate limit reached for requests' });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify(MESSAGE) });
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    expect(await res.body.json()).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Rate limit reached for requests' } });
  });

  it('a body JSON.parse refuses (a raw tab inside a string) gets a 400 and never reaches the endpoint', async () => {
    const { url, sim } = await openaiProxy();
    const body = JSON.stringify(MESSAGE).replace('exactly:', 'exactly:\t');
    const res = await request(`${url}/v1/messages`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(400);
    expect(await res.body.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(sim.requests).toHaveLength(0);
  });

  it('count_tokens answers a local estimate and says so', async () => {
    const { client, url } = await openaiProxy();
    const count = await client.messages.countTokens({ model: MESSAGE.model, messages: MESSAGE.messages });
    expect(count.input_tokens).toBeGreaterThan(0);
    const res = await request(`${url}/v1/messages/count_tokens`, { method: 'POST', body: JSON.stringify(MESSAGE) });
    expect(res.headers['x-qcc-estimated']).toBe('true');
    await res.body.dump();
  });

  it('fails over from an OpenAI endpoint to an Anthropic one, and the other way round', async () => {
    const oaiDown = await h.sim({ name: 'oai-down', behavior: { status: 503 } });
    const anthropic = await h.sim({ name: 'anthropic' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('oai', oaiDown, { protocol: 'openai' }), endpoint('anth', anthropic, { priority: 1 })] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }) });
    expect(res.headers['x-qcc-endpoint']).toBe('anth');
    expect(res.headers['x-qcc-attempts']).toBe('2');
    validateAnthropicStream(await res.body.text());

    const anthDown = await h.sim({ name: 'anth-down', behavior: { status: 529 } });
    const oai = await h.sim({ name: 'oai' });
    const second = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('anth', anthDown), endpoint('oai', oai, { protocol: 'openai', priority: 1 })] });
    const res2 = await request(`${second.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }) });
    expect(res2.headers['x-qcc-endpoint']).toBe('oai');
    const events = validateAnthropicStream(await res2.body.text());
    expect(events.map((e) => (e.data.delta as { text?: string } | undefined)?.text ?? '').join('')).toBe('purple-otter');
  });

  it('a stream that breaks before its first chunk fails over; one that breaks later ends with an error event', async () => {
    const broken = await h.sim({ name: 'broken', behavior: { resetAfterDeltas: 0 } });
    const good = await h.sim({ name: 'good' });
    const { url } = await h.proxy({ version: 1, proxy: { strategy: 'priority' }, endpoints: [endpoint('b', broken, { protocol: 'openai' }), endpoint('g', good, { protocol: 'openai', priority: 1 })] });
    const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }) });
    expect(res.headers['x-qcc-endpoint']).toBe('g');
    validateAnthropicStream(await res.body.text());
    const cut = await openaiProxy({ deltas: 6, truncateAfterDeltas: 3 });
    const res2 = await request(`${cut.url}/v1/messages`, { method: 'POST', body: JSON.stringify({ ...MESSAGE, stream: true }) });
    const text = await res2.body.text();
    expect(text).toContain('event: message_start');
    expect(text.trim().split('\n\n').at(-1)).toMatch(/^event: error/);
  });

  it('takes part in health checks like any endpoint', async () => {
    const { app } = await openaiProxy();
    const [result] = await app.health.checkEndpoint(app.pool.get('oai')!);
    expect(result).toMatchObject({ ok: true, correct: true, usage_present: true });
  });
});
