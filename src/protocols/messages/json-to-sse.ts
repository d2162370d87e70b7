/**
 * Some relays ignore `stream: true` and answer with one JSON message. A client that asked for a stream (Claude
 * Code always does) cannot read that, so the message is replayed as the event sequence it would have streamed:
 * message_start, each block started / delta'd / stopped in order, message_delta with usage, message_stop.
 */

type Json = Record<string, unknown>;

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

function blockEvents(block: Json, index: number): string {
  const type = block.type;
  if (type === 'text') {
    return (
      event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }) +
      event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: String(block.text ?? '') } })
    );
  }
  if (type === 'thinking') {
    let out =
      event('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }) +
      event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: String(block.thinking ?? '') } });
    if (typeof block.signature === 'string' && block.signature) {
      out += event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature } });
    }
    return out;
  }
  if (type === 'tool_use' || type === 'server_tool_use') {
    return (
      event('content_block_start', { type: 'content_block_start', index, content_block: { ...block, input: {} } }) +
      event('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input ?? {}) } })
    );
  }
  // Any other block type arrives whole in its start event, as the API streams such blocks.
  return event('content_block_start', { type: 'content_block_start', index, content_block: block });
}

/** The SSE form of a complete Messages API response, or undefined when the body is not a message. */
export function messageToSse(body: Buffer): string | undefined {
  let message: Json;
  try {
    message = JSON.parse(body.toString('utf8')) as Json;
  } catch {
    return undefined;
  }
  return messageObjectToSse(message);
}

/** The same for a message already parsed (a translated answer). */
export function messageObjectToSse(message: Json): string | undefined {
  if (message.type !== 'message' || !Array.isArray(message.content)) return undefined;
  const usage = (message.usage ?? {}) as Json;
  let out = event('message_start', {
    type: 'message_start',
    message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 0 } },
  });
  (message.content as Json[]).forEach((block, index) => {
    out += blockEvents(block, index) + event('content_block_stop', { type: 'content_block_stop', index });
  });
  out += event('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason ?? 'end_turn', stop_sequence: message.stop_sequence ?? null },
    usage: { output_tokens: Number(usage.output_tokens ?? 0) },
  });
  return out + event('message_stop', { type: 'message_stop' });
}
