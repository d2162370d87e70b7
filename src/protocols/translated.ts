import type { IncomingHttpHeaders } from 'node:http';
import type { ClientResponse } from '../server/client.js';
import type { ExchangeController, ExchangeHandler, Route, Upstream } from '../upstream/client.js';
import { anthropicErrorEvent } from '../errors.js';
import { failureOf, type AnswerTranslation, type AttemptResult, type HeaderMap, type StreamEnd, type UpstreamCall } from './contract.js';
import { applyUsage, emptyUsage, type Usage } from './messages/sse.js';
import { messageObjectToSse } from './messages/json-to-sse.js';
import type { AttemptSeat } from './seat.js';

/**
 * One attempt against an endpoint whose answers are not in the Messages format (OpenAI's SSE, Bedrock's
 * event-stream): the protocol's AnswerTranslation turns them into it on the fly. The same contract as the
 * pass-through attempt (messages/forward.ts): nothing reaches the client until the first translated content
 * event exists, errors come back as Anthropic-shaped held responses with their status kept, and after the first
 * byte a failure is reported in-band.
 */

export interface TranslatedAttemptRequest {
  dispatcher: Upstream;
  origin: string;
  route: Route;
  call: UpstreamCall;
  translation: AnswerTranslation;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  res: ClientResponse;
  /** The proxy's own response headers (request id, endpoint, attempt number). */
  ownHeaders: () => HeaderMap;
  /** Shared with a hedge of the same request (seat.ts). */
  seat?: AttemptSeat | undefined;
  /** The client asked for a stream: a whole answer (an endpoint that ignored the request's stream flag) is replayed as one. */
  expectStream?: boolean;
}

/** Translated output that carries the answer itself: until it appears, the stream is held (as in proxy/forward.ts). */
const CONTENT_EVENT = /^event: (content_block_delta|message_delta|message_stop)$/m;
/** Translated events held before the first content; beyond this the stream is let through. */
const MAX_HOLD_CHARS = 256 * 1024;

const MAX_JSON_BYTES = 32 * 1024 * 1024;

export function forwardTranslatedAttempt(req: TranslatedAttemptRequest): Promise<AttemptResult> {
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
    const { translation } = req;
    const translator = translation.stream();
    let pending = '';

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
      // As a Buffer: the server joins a Buffer with its chunk framing (and the head) into one write; a string is
      // written in pieces.
      if (!res.write(Buffer.from(text)) && controller && !controller.paused) {
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
        mode = statusCode >= 400 ? 'error' : translation.streams(type) ? 'stream' : 'json';
      },
      onResponseData(c, chunk) {
        if (mode === 'error' || mode === 'json') {
          if (bodyBytes + chunk.length <= MAX_JSON_BYTES) body.push(chunk);
          bodyBytes += chunk.length;
          return;
        }
        if (mode !== 'stream') return;
        pending += translator.push(chunk);
        if (pending === '') return;
        let out = pending;
        pending = '';
        if (!committed) {
          held += out;
          // Content may come in the same read as an error that follows it: that is an error after content.
          const content = CONTENT_EVENT.test(held.slice(0, errorAt(held)));
          if (translator.failed && !content) {
            // The stream failed before any content: nothing was sent, so another endpoint can still answer.
            c.abort(new Error('stream opened with an error'));
            return finish({ kind: 'failed', failure: 'error-event', message: `stream opened with an error: ${errorMessage(held)}`, ttfbMs, held: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: Buffer.from(held) } });
          }
          if (!content && held.length <= MAX_HOLD_CHARS) return;
          if (!commitStream()) return;
          out = held;
          held = '';
        }
        write(out);
        if (translator.failed) {
          c.abort(new Error('upstream reported an error mid-stream'));
          res.end();
          finish(committedResult('upstream-error', translator.usage, 'upstream reported an error mid-stream'));
        }
      },
      onResponseEnd() {
        if (mode === 'error') {
          return finish({ kind: 'error-response', ttfbMs, response: translation.error(status, Buffer.concat(body), upstreamHeaders) });
        }
        if (mode === 'json') {
          let message: Record<string, unknown>;
          try {
            message = translation.message(Buffer.concat(body));
          } catch (e: unknown) {
            return finish({ kind: 'failed', failure: 'upstream', message: `the answer is not a message: ${(e as Error).message}`, ttfbMs });
          }
          // A client that asked for a stream cannot read one JSON message: it gets the events it would have streamed.
          const events = req.expectStream === true ? messageObjectToSse(message) : undefined;
          const text = events ?? JSON.stringify(message);
          if (!claim()) return;
          res.writeHead(200, headersFor(events === undefined ? 'application/json' : 'text/event-stream; charset=utf-8', Buffer.byteLength(text)));
          res.end(Buffer.from(text));
          return finish(committedResult('complete', usageOf(message)));
        }
        if (mode !== 'stream') return;
        pending += translator.finish();
        const rest = held + pending;
        held = '';
        pending = '';
        if (translator.failed) {
          // The error came with the end of the body: the same as one seen mid-stream.
          if (!committed) return finish({ kind: 'failed', failure: 'error-event', message: `stream ended with an error: ${errorMessage(rest)}`, ttfbMs, held: { status: 200, headers: { 'content-type': 'text/event-stream' }, body: Buffer.from(rest) } });
          res.end(Buffer.from(rest));
          return finish(committedResult('upstream-error', translator.usage, 'upstream reported an error at the end of the stream'));
        }
        if (!translator.complete) {
          if (!committed) return finish({ kind: 'failed', failure: 'empty-stream', message: 'stream closed before it finished', ttfbMs });
          res.end(rest + anthropicErrorEvent('api_error', 'upstream stream ended before the response finished'));
          return finish(committedResult('truncated', translator.usage, 'stream ended before its proper end'));
        }
        if (!committed && !commitStream()) return;
        res.end(Buffer.from(rest));
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
      { origin: req.origin, route: req.route, path: req.call.path, method: req.call.method, headers: req.call.headers, body: req.call.body, headersTimeout: req.headersTimeoutMs, bodyTimeout: req.idleTimeoutMs },
      handler,
    );
  });
}

/** A translated message's usage, as far as it has the four numbers (absent ones counted as none). */
function usageOf(message: Record<string, unknown>): Usage | undefined {
  const u = message.usage;
  if (typeof u !== 'object' || u === null) return undefined;
  const usage = emptyUsage();
  applyUsage(usage, u, true);
  return usage;
}

/** Where the first error event starts in translated output (its length when there is none). */
function errorAt(events: string): number {
  const at = events.indexOf('event: error\n');
  return at === -1 ? events.length : at;
}

/** The message of the first error event in translated output, for the attempt's log line. */
function errorMessage(events: string): string {
  const m = /event: error\ndata: (.*)\n/.exec(events);
  if (!m) return 'error event';
  try {
    const parsed = JSON.parse(m[1]!) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === 'string' ? parsed.error.message : 'error event';
  } catch {
    return 'error event';
  }
}
