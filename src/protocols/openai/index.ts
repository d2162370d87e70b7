import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { IncomingHttpHeaders } from 'node:http';
import { anthropicErrorJson } from '../../errors.js';
import { upstreamPath } from '../../endpoints/upstream-url.js';
import { headerValue } from '../anthropic/headers.js';
import { jsonAnswer, type AnswerTranslation, type HeaderMap, type HeldResponse, type MessagesCall, type Prepared, type Protocol, type StreamTranslation } from '../contract.js';
import type { Usage } from '../messages/sse.js';
import { toOpenAIRequest } from './request.js';
import { toAnthropicError, toAnthropicMessage, type ReasoningPolicy } from './response.js';
import { StreamTranslator } from './stream.js';

/** OpenAI Chat Completions: the request translated to it, its answers translated back (request.ts, stream.ts). */

function notServed(call: MessagesCall, what: string): Prepared {
  return { refused: jsonAnswer(404, anthropicErrorJson('not_found_error', `endpoint ${call.endpoint.id} speaks the OpenAI protocol and cannot serve ${what}`)) };
}

function prepare(call: MessagesCall): Prepared {
  const { endpoint, parsed } = call;
  if (parsed.countTokens) return notServed(call, 'count_tokens'); // the handler answers with an estimate
  if (!parsed.messages || !parsed.json) return notServed(call, `${call.method} ${call.path.split('?')[0]}`);
  const request = parsed.json();
  if (request === undefined) return { refused: jsonAnswer(400, anthropicErrorJson('invalid_request_error', 'request body is not valid JSON (a raw control character in a string?)')) };
  const model = endpoint.upstreamModel(parsed.model ?? '');
  const body = Buffer.from(JSON.stringify(toOpenAIRequest(request, { model, mapEffort: endpoint.config.openai.map_effort })));
  // Chat Completions takes a Bearer token; without a key of its own the client's credential is passed as one.
  const clientHeaders = call.client.headers;
  const clientKey = call.accessKeyHeader === 'x-api-key' || call.accessKeyHeader === 'both' ? undefined : headerValue(clientHeaders, 'x-api-key');
  const clientBearer = call.accessKeyHeader === 'authorization' || call.accessKeyHeader === 'both' ? undefined : headerValue(clientHeaders, 'authorization');
  const authorization = call.key ? `Bearer ${call.key.key}` : (clientBearer ?? (clientKey ? `Bearer ${clientKey}` : undefined));
  const headers: HeaderMap = {
    'content-type': 'application/json',
    accept: parsed.stream ? 'text/event-stream' : 'application/json',
    'content-length': String(body.length),
  };
  if (authorization) headers.authorization = authorization;
  const userAgent = headerValue(clientHeaders, 'user-agent');
  if (userAgent) headers['user-agent'] = userAgent;
  if (parsed.stream) headers['accept-encoding'] = 'identity';
  return { method: 'POST', path: upstreamPath(endpoint.target, '/v1/chat/completions'), headers, body };
}

/** The SSE parser and the chunk translator as one StreamTranslation. */
class OpenAIStream implements StreamTranslation {
  private readonly translator: StreamTranslator;
  private readonly decoder = new TextDecoder();
  private readonly parser: EventSourceParser;
  private out = '';
  private closed = false;

  constructor(requestModel: string, policy: ReasoningPolicy) {
    this.translator = new StreamTranslator(requestModel, policy);
    this.parser = createParser({ onEvent: (e) => (this.out += this.translator.push(e.data)) });
  }

  push(chunk: Buffer): string {
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    const out = this.out;
    this.out = '';
    return out;
  }

  finish(): string {
    this.parser.feed(this.decoder.decode());
    let out = this.out;
    this.out = '';
    // The closing events (collected tool calls, message_delta, message_stop) only for a turn that finished.
    if (this.translator.complete && !this.translator.hasEnded) {
      out += this.translator.finish();
      this.closed = true;
    }
    return out;
  }

  get usage(): Usage {
    return this.translator.usage;
  }

  get failed(): boolean {
    return this.translator.hasEnded && !this.closed;
  }

  get complete(): boolean {
    return this.translator.complete;
  }
}

function translation(call: MessagesCall): AnswerTranslation {
  const requestModel = call.parsed.model ?? call.endpoint.upstreamModel('');
  const policy: ReasoningPolicy = { reasoning: call.endpoint.config.openai.reasoning };
  return {
    streams: (contentType) => contentType.includes('text/event-stream'),
    stream: () => new OpenAIStream(requestModel, policy),
    message: (body) => toAnthropicMessage(JSON.parse(body.toString('utf8')) as Record<string, unknown>, requestModel, policy),
    error(status: number, body: Buffer, upstream: IncomingHttpHeaders): HeldResponse {
      const headers: IncomingHttpHeaders = { 'content-type': 'application/json' };
      if (upstream['retry-after'] !== undefined) headers['retry-after'] = upstream['retry-after'];
      return { status, headers, body: Buffer.from(toAnthropicError(status, body)) };
    },
  };
}

export const openai: Protocol = { name: 'openai', prepare, translation };
