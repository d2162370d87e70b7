import type { IncomingHttpHeaders } from 'node:http';
import type { ClientResponse } from './client.js';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { ExchangeController, ExchangeHandler, Upstream } from '../upstream/client.js';
import { anthropicErrorEvent } from '../errors.js';
import { SseScanner, usageFromJson, type Usage } from './sse.js';
import { messageToSse } from './json-to-sse.js';
import type { HeaderMap } from './headers.js';

/**
 * One attempt against one endpoint, through the upstream client's `dispatch` (callbacks, no stream objects,
 * no promise per chunk; see upstream/client.ts). Nothing reaches the client until the attempt is known to be good:
 * an error status is buffered and handed back; an SSE response is held until its first complete event, so a
 * stream that dies or opens with `event: error` can still fail over. After that, bytes pass straight through
 * with backpressure, and a failure can only be reported in-band.
 */

export type FailureKind =
  | 'connect' // refused, unreachable, DNS, TLS: the request was never written
  | 'first-byte-timeout'
  | 'reset' // the connection broke after the request was written, before the response started
  | 'empty-stream' // a 200 stream that closed before its first event
  | 'error-event' // a 200 stream whose first event is `event: error`
  | 'upstream'; // anything else the client reports

export type StreamEnd = 'complete' | 'truncated' | 'upstream-error' | 'client-abort';

/** What reached the client, if anything, when an attempt failed before committing. */
export interface HeldResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type AttemptResult =
  | { kind: 'error-response'; ttfbMs: number; response: HeldResponse }
  | { kind: 'failed'; failure: FailureKind; message: string; ttfbMs?: number; held?: HeldResponse }
  | { kind: 'client-abort'; ttfbMs?: number }
  | {
      kind: 'committed';
      status: number;
      ttfbMs: number;
      end: StreamEnd;
      usage?: Usage | undefined;
      message?: string;
    };

export interface AttemptRequest {
  dispatcher: Upstream;
  origin: string;
  path: string;
  method: string;
  headers: HeaderMap;
  body: Buffer | null;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  res: ClientResponse;
  /** Called once, at commit, for the headers the client gets (upstream's, filtered, plus the proxy's own). */
  responseHeaders: (upstream: IncomingHttpHeaders) => HeaderMap;
  /** The client asked for a stream: a JSON answer (a relay ignoring `stream: true`) is replayed as SSE. */
  expectStream?: boolean;
  /** Monotonic clock in milliseconds (performance.now by default), for time to first byte. */
  now?: () => number;
}

const MAX_HELD_ERROR_BYTES = 1024 * 1024;
const MAX_USAGE_SIDE_COPY = 4 * 1024 * 1024;

export function failureOf(err: Error): FailureKind {
  // The request never left: whatever the cause (refused, DNS, TLS, connect timeout), another endpoint is safe to
  // try. The upstream client marks every error from before the connection was established this way.
  if ((err as { beforeWrite?: boolean }).beforeWrite === true) return 'connect';
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'QCC_HEADERS_TIMEOUT':
      return 'first-byte-timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'QCC_UPSTREAM_CLOSED':
      return 'reset';
    default:
      return 'upstream';
  }
}

function decodedBody(body: Buffer, encoding: string | string[] | undefined): Buffer {
  const enc = (Array.isArray(encoding) ? encoding[0] : encoding)?.trim().toLowerCase();
  if (!enc || enc === 'identity') return body;
  if (enc === 'gzip' || enc === 'x-gzip') return gunzipSync(body);
  if (enc === 'br') return brotliDecompressSync(body);
  if (enc === 'deflate') return inflateSync(body);
  throw new Error(`unsupported content-encoding ${enc}`);
}

function jsonUsage(chunks: Buffer[], encoding: string | string[] | undefined): Usage | undefined {
  try {
    return usageFromJson(decodedBody(Buffer.concat(chunks), encoding));
  } catch {
    return undefined; // usage is for accounting only; an undecodable body must not fail the request
  }
}

export function forwardAttempt(req: AttemptRequest): Promise<AttemptResult> {
  const now = req.now ?? performance.now.bind(performance);
  const { res } = req;
  const started = now();

  return new Promise<AttemptResult>((resolve) => {
    type Mode = 'waiting' | 'error-buffer' | 'sse-hold' | 'json-for-stream' | 'committed' | 'done';
    let mode: Mode = 'waiting';
    let controller: ExchangeController | undefined;
    let status = 0;
    let upstreamHeaders: IncomingHttpHeaders = {};
    let ttfbMs: number | undefined;
    let held: Buffer[] = [];
    let heldBytes = 0;
    let scanner: SseScanner | undefined;
    let usageCopy: Buffer[] | undefined;
    let usageBytes = 0;
    let clientGone = false;

    const finish = (result: AttemptResult) => {
      if (mode === 'done') return;
      mode = 'done';
      res.off('close', onClientClose);
      resolve(result);
    };
    const heldResponse = (): HeldResponse => ({ status, headers: upstreamHeaders, body: Buffer.concat(held) });

    function onClientClose() {
      if (res.writableFinished || mode === 'done') return;
      clientGone = true;
      controller?.abort(new Error('client disconnected'));
      finish({ kind: 'client-abort', ...(ttfbMs !== undefined && { ttfbMs }) });
    }
    res.on('close', onClientClose);

    const commit = () => {
      res.writeHead(status, req.responseHeaders(upstreamHeaders));
      mode = 'committed';
    };
    const write = (chunk: Buffer) => {
      if (!res.write(chunk) && controller && !controller.paused) {
        const c = controller;
        c.pause();
        res.once('drain', () => c.resume());
      }
    };
    const endInBand = (end: StreamEnd, message: string) => {
      // After the first byte there is no replay: tell the client in the protocol's own words and stop.
      if (scanner) res.end(anthropicErrorEvent('api_error', message));
      else res.destroy();
      finish({ kind: 'committed', status, ttfbMs: ttfbMs ?? 0, end, message, usage: scanner?.usage });
    };

    /** The whole JSON answer is in: send it as the stream the client asked for (or as it is, if not a message). */
    const replayAsStream = () => {
      const raw = Buffer.concat(held);
      let events: string | undefined;
      try {
        events = messageToSse(decodedBody(raw, upstreamHeaders['content-encoding']));
      } catch {
        events = undefined;
      }
      const usage = jsonUsage([raw], upstreamHeaders['content-encoding']);
      if (events === undefined) {
        commit();
        res.end(raw);
      } else {
        const headers = req.responseHeaders(upstreamHeaders);
        delete headers['content-length'];
        delete headers['content-encoding'];
        headers['content-type'] = 'text/event-stream; charset=utf-8';
        res.writeHead(status, headers);
        mode = 'committed';
        res.end(events);
      }
      finish({ kind: 'committed', status, ttfbMs: ttfbMs!, end: 'complete', usage });
    };

    const handler: ExchangeHandler = {
      onRequestStart(c) {
        controller = c;
        if (clientGone) c.abort(new Error('client disconnected'));
      },
      onResponseStart(_c, statusCode, headers) {
        if (statusCode < 200) return; // 1xx informational: the real status follows
        status = statusCode;
        upstreamHeaders = headers;
        ttfbMs = now() - started;
        if (statusCode >= 400) {
          mode = 'error-buffer';
          return;
        }
        const type = headers['content-type'];
        const contentType = (Array.isArray(type) ? type[0] : type) ?? '';
        const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
        // A compressed stream (some relays compress even when asked not to) cannot be read on the side:
        // it is passed through as opaque bytes, committed at once.
        if (contentType.includes('text/event-stream') && encoding === 'identity') {
          scanner = new SseScanner();
          mode = 'sse-hold';
          return;
        }
        if (contentType.includes('json') && req.expectStream) {
          mode = 'json-for-stream';
          return;
        }
        if (contentType.includes('json')) usageCopy = [];
        commit();
      },
      onResponseData(c, chunk) {
        switch (mode) {
          case 'committed':
            // One piece per upstream read (the client coalesces HTTP chunks), so one scan and one write each.
            if (scanner) scanner.push(chunk);
            else if (usageCopy && (usageBytes += chunk.length) <= MAX_USAGE_SIDE_COPY) usageCopy.push(chunk);
            write(chunk);
            return;
          case 'json-for-stream':
            held.push(chunk);
            heldBytes += chunk.length;
            return;
          case 'error-buffer':
            if (heldBytes + chunk.length <= MAX_HELD_ERROR_BYTES) {
              held.push(chunk);
              heldBytes += chunk.length;
            }
            return;
          case 'sse-hold': {
            held.push(chunk);
            scanner!.push(chunk);
            if (scanner!.events === 0) return;
            if (scanner!.firstEvent === 'error') {
              const response = heldResponse();
              c.abort(new Error('stream opened with an error event'));
              finish({ kind: 'failed', failure: 'error-event', message: `stream opened with event: error ${scanner!.errorData ?? ''}`.trim(), ttfbMs: ttfbMs!, held: response });
              return;
            }
            commit();
            write(held.length === 1 ? held[0]! : Buffer.concat(held));
            held = [];
            return;
          }
          default:
            return;
        }
      },
      onResponseEnd() {
        switch (mode) {
          case 'error-buffer':
            return finish({ kind: 'error-response', ttfbMs: ttfbMs!, response: heldResponse() });
          case 'sse-hold':
            return finish({ kind: 'failed', failure: 'empty-stream', message: 'stream closed before its first event', ttfbMs: ttfbMs!, held: heldResponse() });
          case 'json-for-stream':
            return replayAsStream();
          case 'committed':
            if (scanner && !scanner.sawMessageStop) return endInBand('truncated', 'upstream stream ended without message_stop');
            res.end();
            return finish({
              kind: 'committed',
              status,
              ttfbMs: ttfbMs!,
              end: 'complete',
              usage: scanner ? scanner.usage : usageCopy && usageBytes <= MAX_USAGE_SIDE_COPY ? jsonUsage(usageCopy, upstreamHeaders['content-encoding']) : undefined,
            });
          default:
            return;
        }
      },
      onResponseError(_c, err) {
        if (mode === 'done') return;
        if (clientGone) return finish({ kind: 'client-abort', ...(ttfbMs !== undefined && { ttfbMs }) });
        if (mode === 'committed') {
          const idle = (err as NodeJS.ErrnoException).code === 'QCC_BODY_TIMEOUT';
          return endInBand('upstream-error', idle ? 'upstream stream went idle' : `upstream connection failed mid-response: ${err.message}`);
        }
        const failure = mode === 'sse-hold' ? 'empty-stream' : failureOf(err);
        finish({ kind: 'failed', failure, message: err.message, ...(ttfbMs !== undefined && { ttfbMs }) });
      },
    };

    req.dispatcher.dispatch(
      {
        origin: req.origin,
        path: req.path,
        method: req.method,
        headers: req.headers,
        body: req.body,
        headersTimeout: req.headersTimeoutMs,
        bodyTimeout: req.idleTimeoutMs,
      },
      handler,
    );
  });
}
