import type { IncomingHttpHeaders } from 'node:http';
import type { ClientResponse } from '../proxy/client.js';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import type { ExchangeController, ExchangeHandler, Route, Upstream } from '../upstream/client.js';
import { anthropicErrorEvent } from '../errors.js';
import { failureOf, type AttemptResult, type StreamEnd } from '../proxy/forward.js';
import type { HeaderMap } from '../proxy/headers.js';
import type { Usage } from '../proxy/sse.js';
import { toAnthropicError, toAnthropicMessage, type ReasoningPolicy } from './response.js';
import { StreamTranslator } from './stream.js';
import type { AttemptSeat } from '../proxy/seat.js';

/**
 * One attempt against an OpenAI-protocol endpoint: the request is already translated; the response is
 * translated back on the fly. The same contract as the Anthropic attempt (proxy/forward.ts): nothing reaches
 * the client until the first translated event exists, errors come back as Anthropic-shaped held responses
 * with their status kept, and after the first byte a failure is reported in-band.
 */

export interface OpenAIAttemptRequest {
  dispatcher: Upstream;
  origin: string;
  route: Route;
  path: string;
  headers: HeaderMap;
  body: Buffer;
  stream: boolean;
  requestModel: string;
  policy: ReasoningPolicy;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  res: ClientResponse;
  /** The proxy's own response headers (request id, endpoint, attempt number). */
  ownHeaders: () => HeaderMap;
  /** Shared with a hedge of the same request (proxy/seat.ts). */
  seat?: AttemptSeat | undefined;
}

/** Translated output that carries the answer itself: until it appears, the stream is held (as in proxy/forward.ts). */
const CONTENT_EVENT = /^event: (content_block_delta|message_delta|message_stop)$/m;
/** Translated events held before the first content; beyond this the stream is let through. */
const MAX_HOLD_CHARS = 256 * 1024;

const MAX_JSON_BYTES = 32 * 1024 * 1024;

export function forwardOpenAIAttempt(req: OpenAIAttemptRequest): Promise<AttemptResult> {
  const { res } = req;
  const started = performance.now();
  return new Promise<AttemptResult>((resolve) => {
    type Mode = 'waiting' | 'error' | 'stream' | 'json' | 'done';
    let mode: Mode = 'waiting';
    let committed = false;
    let controller: ExchangeController | undefined;
    let status = 0;
    let upstreamHeaders: IncomingHttpHeaders = {};
    let ttfbMs = 0;
    let body: Buffer[] = [];
    let bodyBytes = 0;
    let clientGone = false;
    let firstContentMs = 0;
    /** Translated events not yet sent: everything before the first content. */
    let held = '';
    const translator = new StreamTranslator(req.requestModel, req.policy);
    const decoder = new TextDecoder();
    let pending = '';
    const parser: EventSourceParser = createParser({ onEvent: (e) => (pending += translator.push(e.data)) });

    const finish = (result: AttemptResult) => {
      if (mode === 'done') return;
      mode = 'done';
      res.off('close', onClientClose);
      resolve(result);
    };
    function onClientClose() {
      if (res.writableFinished || mode === 'done') return;
      clientGone = true;
      controller?.abort(new Error('client disconnected'));
      finish({ kind: 'client-abort', ttfbMs });
    }
    res.on('close', onClientClose);
    req.seat?.bind(() => {
      if (mode === 'done' || committed) return;
      finish({ kind: 'cancelled', ...(ttfbMs > 0 && { ttfbMs }), usage: translator.usage });
      controller?.abort(new Error('another attempt answered first'));
    });
    /** Take the client before the first byte; false when a hedge of this request already has it (then cancelled). */
    const claim = (): boolean => {
      if (req.seat !== undefined && !req.seat.claim()) return false;
      firstContentMs = performance.now() - started;
      return true;
    };

    const headersFor = (contentType: string, length?: number): HeaderMap => {
      const h = req.ownHeaders();
      h['content-type'] = contentType;
      if (length !== undefined) h['content-length'] = String(length);
      const requestId = upstreamHeaders['x-request-id'] ?? upstreamHeaders['request-id'];
      if (requestId !== undefined) h['request-id'] = requestId;
      return h;
    };
    const write = (text: string) => {
      if (!res.write(text) && controller && !controller.paused) {
        const c = controller;
        c.pause();
        res.once('drain', () => c.resume());
      }
    };
    const commitStream = (): boolean => {
      if (!claim()) return false;
      res.writeHead(200, { ...headersFor('text/event-stream; charset=utf-8'), 'cache-control': 'no-cache' });
      committed = true;
      return true;
    };
    const committedResult = (end: StreamEnd, usage: Usage | undefined, message?: string): AttemptResult => ({
      kind: 'committed',
      status: 200,
      ttfbMs,
      firstContentMs,
      end,
      usage,
      ...(message !== undefined && { message }),
    });

    const handler: ExchangeHandler = {
      onRequestStart(c) {
        controller = c;
        if (clientGone) c.abort(new Error('client disconnected'));
      },
      onResponseStart(_c, statusCode, headers) {
        if (statusCode < 200) return;
        status = statusCode;
        upstreamHeaders = headers.object;
        ttfbMs = performance.now() - started;
        const type = headers.get('content-type') ?? '';
        mode = statusCode >= 400 ? 'error' : type.includes('text/event-stream') ? 'stream' : 'json';
      },
      onResponseData(c, chunk) {
        if (mode === 'error' || mode === 'json') {
          if (bodyBytes + chunk.length <= MAX_JSON_BYTES) body.push(chunk);
          bodyBytes += chunk.length;
          return;
        }
        if (mode !== 'stream') return;
        parser.feed(decoder.decode(chunk, { stream: true }));
        if (pending === '') return;
        let out = pending;
        pending = '';
        if (!committed && translator.hasEnded) {
          // The stream failed before any content: nothing was sent, so another endpoint can still answer.
          c.abort(new Error('stream opened with an error'));
          return finish({ kind: 'failed', failure: 'error-event', message: 'OpenAI stream opened with an error', ttfbMs, held: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: Buffer.from(held + out) } });
        }
        if (!committed) {
          held += out;
          if (!CONTENT_EVENT.test(out) && held.length <= MAX_HOLD_CHARS) return;
          if (!commitStream()) return;
          out = held;
          held = '';
        }
        write(out);
        if (translator.hasEnded) {
          c.abort(new Error('upstream reported an error mid-stream'));
          res.end();
          finish(committedResult('upstream-error', translator.usage, 'upstream reported an error mid-stream'));
        }
      },
      onResponseEnd() {
        if (mode === 'error') {
          const translated = Buffer.from(toAnthropicError(status, Buffer.concat(body)));
          const headers: IncomingHttpHeaders = { 'content-type': 'application/json' };
          if (upstreamHeaders['retry-after'] !== undefined) headers['retry-after'] = upstreamHeaders['retry-after'];
          return finish({ kind: 'error-response', ttfbMs, response: { status, headers, body: translated } });
        }
        if (mode === 'json') {
          let message: Record<string, unknown>;
          try {
            message = toAnthropicMessage(JSON.parse(Buffer.concat(body).toString('utf8')) as Record<string, unknown>, req.requestModel, req.policy);
          } catch {
            return finish({ kind: 'failed', failure: 'upstream', message: 'OpenAI endpoint answered with a body that is not JSON', ttfbMs });
          }
          const text = JSON.stringify(message);
          if (!claim()) return;
          res.writeHead(200, headersFor('application/json', Buffer.byteLength(text)));
          res.end(text);
          return finish(committedResult('complete', message.usage as Usage));
        }
        if (mode !== 'stream') return;
        parser.feed(decoder.decode());
        const rest = held + pending;
        held = '';
        pending = '';
        if (!translator.complete) {
          if (!committed) return finish({ kind: 'failed', failure: 'empty-stream', message: 'OpenAI stream closed before it finished', ttfbMs });
          res.end(rest + anthropicErrorEvent('api_error', 'upstream stream ended before the response finished'));
          return finish(committedResult('truncated', translator.usage, 'OpenAI stream ended without finish_reason or [DONE]'));
        }
        if (!committed && !commitStream()) return;
        res.end(rest + translator.finish());
        finish(committedResult('complete', translator.usage));
      },
      onResponseError(_c, err) {
        if (mode === 'done') return;
        if (clientGone) return finish({ kind: 'client-abort', ttfbMs });
        if (committed) {
          res.end(anthropicErrorEvent('api_error', `upstream connection failed mid-response: ${err.message}`));
          return finish(committedResult('upstream-error', translator.usage, err.message));
        }
        finish({ kind: 'failed', failure: mode === 'stream' ? 'empty-stream' : failureOf(err), message: err.message, ...(ttfbMs > 0 && { ttfbMs }) });
      },
    };

    req.dispatcher.dispatch(
      { origin: req.origin, route: req.route, path: req.path, method: 'POST', headers: req.headers, body: req.body, headersTimeout: req.headersTimeoutMs, bodyTimeout: req.idleTimeoutMs },
      handler,
    );
  });
}
