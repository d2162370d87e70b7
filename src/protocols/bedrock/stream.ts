import { anthropicErrorEvent } from '../../errors.js';
import type { StreamTranslation } from '../contract.js';
import { applyUsage, emptyUsage, type Usage } from '../messages/sse.js';
import { bedrockStreamError } from './errors.js';
import { EventStreamError, EventStreamSplitter, stringHeader } from './event-stream.js';

/**
 * Bedrock's InvokeModelWithResponseStream answer → the Anthropic SSE stream, event for event. Each `chunk` event's
 * payload is `{"bytes":"<base64>"}`, and the bytes are one Anthropic stream event as JSON (Bedrock adds its
 * invocation metrics to `message_stop`; they pass through, as unknown fields do). The JSON goes on as Bedrock
 * wrote it, under its own `type` as the SSE event name. Exception messages become an `error` event; a frame that
 * does not decode (a bad CRC, an absurd length) ends the stream the same way, as a failure of the endpoint.
 */

type Event = { type?: unknown; message?: { usage?: unknown }; usage?: unknown };

/** An event name as the Messages stream has them. */
const EVENT_TYPE = /^[a-z_]{1,64}$/;
/** `{"type":"content_block_delta",…`: the type, when the JSON starts with it (as Bedrock writes every event). */
const LEADING_TYPE = /^\{"type":"([a-z_]{1,64})"/;
const BYTES_KEY = Buffer.from('{"bytes":"');

/**
 * The event JSON a chunk carries: its payload is `{"bytes":"<base64>",…}` (Bedrock adds a padding field "p").
 * Base64 has no quote or escape, so the value is cut out where the payload starts with the key, without parsing
 * the payload; any other layout is parsed. Undefined for a payload without bytes.
 */
function chunkJson(payload: Buffer): string | undefined {
  if (payload.subarray(0, BYTES_KEY.length).equals(BYTES_KEY)) {
    const end = payload.indexOf(0x22, BYTES_KEY.length);
    if (end !== -1) return Buffer.from(payload.toString('latin1', BYTES_KEY.length, end), 'base64').toString('utf8');
  }
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { bytes?: unknown };
    return typeof parsed.bytes === 'string' ? Buffer.from(parsed.bytes, 'base64').toString('utf8') : undefined;
  } catch {
    return undefined;
  }
}

export class BedrockStream implements StreamTranslation {
  readonly usage: Usage = emptyUsage();
  failed = false;
  complete = false;
  private readonly splitter = new EventStreamSplitter();

  push(chunk: Buffer): string {
    if (this.failed) return '';
    let messages;
    try {
      messages = this.splitter.push(chunk);
    } catch (e: unknown) {
      if (!(e instanceof EventStreamError)) throw e;
      return this.fail('api_error', `Bedrock stream: ${e.message}`);
    }
    let out = '';
    for (const message of messages) {
      out += this.translate(message.headers, message.body);
      if (this.failed) break;
    }
    return out;
  }

  finish(): string {
    if (this.failed || this.complete || this.splitter.leftover === 0) return '';
    return this.fail('api_error', `Bedrock stream ended inside a message (${this.splitter.leftover} bytes)`);
  }

  private translate(headers: Parameters<typeof stringHeader>[0]['headers'], body: Uint8Array): string {
    const message = { headers, body };
    const kind = stringHeader(message, ':message-type');
    if (kind === 'exception') {
      const { type, message: text } = bedrockStreamError(stringHeader(message, ':exception-type') ?? 'exception', body);
      return this.fail(type, text);
    }
    if (kind === 'error') {
      return this.fail('api_error', `Bedrock ${stringHeader(message, ':error-code') ?? 'error'}: ${stringHeader(message, ':error-message') ?? ''}`.trim());
    }
    if (stringHeader(message, ':event-type') !== 'chunk') return ''; // other event types carry nothing for the client
    const json = chunkJson(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    if (json === undefined) return this.fail('api_error', 'Bedrock stream: a chunk that is not JSON with bytes');
    // Most events are deltas: their type is read from the JSON's start and the rest passes unparsed. Only the
    // events that carry usage (or an error) are parsed, as is anything laid out otherwise.
    let type = LEADING_TYPE.exec(json)?.[1];
    let event: Event | undefined;
    if (type === undefined || type === 'message_start' || type === 'message_delta' || type === 'error') {
      try {
        event = JSON.parse(json) as Event;
      } catch {
        return this.fail('api_error', 'Bedrock stream: an event that is not JSON');
      }
      type = typeof event.type === 'string' && EVENT_TYPE.test(event.type) ? event.type : undefined;
      if (type === undefined) return this.fail('api_error', 'Bedrock stream: an event without a type');
    }
    if (this.complete) return ''; // nothing may follow message_stop
    if (type === 'message_start') applyUsage(this.usage, event!.message?.usage, false);
    else if (type === 'message_delta') applyUsage(this.usage, event!.usage, true);
    else if (type === 'message_stop') this.complete = true;
    else if (type === 'error') this.failed = true;
    // Bedrock's JSON has no raw newlines, but one would break the SSE framing: re-serialise rather than pass it
    // (a newline outside a string is JSON's whitespace; inside one it is not JSON at all).
    let data = json;
    if (json.includes('\n') || json.includes('\r')) {
      try {
        data = JSON.stringify(event ?? (JSON.parse(json) as Event));
      } catch {
        return this.fail('api_error', 'Bedrock stream: an event that is not JSON');
      }
    }
    return `event: ${type}\ndata: ${data}\n\n`;
  }

  private fail(type: Parameters<typeof anthropicErrorEvent>[0], message: string): string {
    this.failed = true;
    return anthropicErrorEvent(type, message);
  }
}
