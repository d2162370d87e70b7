/**
 * Checks that an Anthropic Messages SSE stream is well-formed the way Claude Code's parser needs it:
 * exactly one message_start, first; every block started before its deltas and stopped exactly once; block
 * indices contiguous from 0; delta types matching block types; one message_delta with usage; message_stop last.
 * Throws with every problem found.
 */
export interface ParsedEvent {
  event: string;
  data: Record<string, unknown>;
}

export function parseSse(text: string): ParsedEvent[] {
  return text
    .split(/\n\n+/)
    .map((chunk) => chunk.trim())
    .filter(Boolean)
    .map((chunk) => {
      const event = /^event: (.*)$/m.exec(chunk)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(chunk)?.[1] ?? '{}';
      return { event, data: JSON.parse(data) as Record<string, unknown> };
    });
}

const DELTA_FOR: Record<string, string> = { text: 'text_delta', thinking: 'thinking_delta', tool_use: 'input_json_delta' };

export function validateAnthropicStream(text: string): ParsedEvent[] {
  const events = parseSse(text);
  const problems: string[] = [];
  const open = new Map<number, string>();
  const stopped = new Set<number>();
  let nextIndex = 0;
  let starts = 0;
  let deltas = 0;
  events.forEach((e, i) => {
    if (e.event !== e.data.type && e.event !== 'ping') problems.push(`#${i}: event "${e.event}" carries data of type "${String(e.data.type)}"`);
    switch (e.event) {
      case 'message_start':
        starts++;
        if (i !== 0) problems.push(`#${i}: message_start is not first`);
        break;
      case 'content_block_start': {
        const index = e.data.index as number;
        if (index !== nextIndex) problems.push(`#${i}: block ${index} started, expected ${nextIndex}`);
        if (open.size > 0) problems.push(`#${i}: block ${index} started while ${[...open.keys()].join(',')} still open`);
        open.set(index, String((e.data.content_block as { type?: string }).type));
        nextIndex = index + 1;
        break;
      }
      case 'content_block_delta': {
        const index = e.data.index as number;
        const type = open.get(index);
        if (type === undefined) problems.push(`#${i}: delta for block ${index}, which is not open`);
        const deltaType = (e.data.delta as { type?: string }).type;
        if (type && deltaType !== DELTA_FOR[type] && !(type === 'thinking' && deltaType === 'signature_delta')) problems.push(`#${i}: ${deltaType} inside a ${type} block`);
        break;
      }
      case 'content_block_stop': {
        const index = e.data.index as number;
        if (!open.has(index)) problems.push(`#${i}: stop for block ${index}, which is not open`);
        if (stopped.has(index)) problems.push(`#${i}: block ${index} stopped twice`);
        open.delete(index);
        stopped.add(index);
        break;
      }
      case 'message_delta':
        deltas++;
        if (open.size > 0) problems.push(`#${i}: message_delta with block(s) ${[...open.keys()].join(',')} open`);
        if (typeof (e.data.usage as { output_tokens?: unknown } | undefined)?.output_tokens !== 'number') problems.push(`#${i}: message_delta without usage.output_tokens`);
        if (typeof (e.data.delta as { stop_reason?: unknown }).stop_reason !== 'string') problems.push(`#${i}: message_delta without stop_reason`);
        break;
      case 'message_stop':
        if (i !== events.length - 1) problems.push(`#${i}: message_stop is not last`);
        break;
      case 'ping':
        break;
      default:
        problems.push(`#${i}: unexpected event ${e.event}`);
    }
  });
  if (starts !== 1) problems.push(`${starts} message_start events`);
  if (deltas !== 1) problems.push(`${deltas} message_delta events`);
  if (events.at(-1)?.event !== 'message_stop') problems.push('does not end with message_stop');
  if (problems.length > 0) throw new Error(`malformed Anthropic stream:\n  ${problems.join('\n  ')}`);
  return events;
}
