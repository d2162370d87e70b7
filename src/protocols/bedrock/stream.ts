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
    let json: string;
    let event: { type?: unknown; message?: { usage?: unknown }; usage?: unknown; error?: { type?: unknown; message?: unknown } };
    try {
      const payload = JSON.parse(Buffer.from(body).toString('utf8')) as { bytes?: unknown };
      if (typeof payload.bytes !== 'string') return this.fail('api_error', 'Bedrock stream: a chunk without bytes');
      json = Buffer.from(payload.bytes, 'base64').toString('utf8');
      event = JSON.parse(json) as typeof event;
    } catch {
      return this.fail('api_error', 'Bedrock stream: a chunk that is not JSON');
    }
    const type = event.type;
    if (typeof type !== 'string' || !/^[a-z_]{1,64}$/.test(type)) return this.fail('api_error', 'Bedrock stream: an event without a type');
    if (this.complete) return ''; // nothing may follow message_stop
    if (type === 'message_start') applyUsage(this.usage, event.message?.usage, false);
    else if (type === 'message_delta') applyUsage(this.usage, event.usage, true);
    else if (type === 'message_stop') this.complete = true;
    else if (type === 'error') this.failed = true;
    // Bedrock's JSON has no raw newlines, but one would break the SSE framing: re-serialise rather than pass it.
    const data = json.includes('\n') || json.includes('\r') ? JSON.stringify(event) : json;
    return `event: ${type}\ndata: ${data}\n\n`;
  }

  private fail(type: Parameters<typeof anthropicErrorEvent>[0], message: string): string {
    this.failed = true;
    return anthropicErrorEvent(type, message);
  }
}
