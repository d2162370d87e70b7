import type { IncomingHttpHeaders } from 'node:http';
import type { ClientResponse } from '../../server/client.js';
import { failureOf, type AttemptResult, type HeldResponse, type StreamEnd } from '../contract.js';
import type { ExchangeController, ExchangeHandler, Route, Upstream } from '../../upstream/client.js';
import { anthropicErrorEvent } from '../../errors.js';
import { SseScanner, usageFromJson, type Usage } from './sse.js';
import { messageToSse } from './json-to-sse.js';
import { contentCoding, decodeBody, DecodeError, MAX_DECODED_BYTES } from './decode.js';
import { clientResponseHeaders, forwardHead, type HeaderMap } from '../anthropic/headers.js';
import { ResponseHeaders } from '../../upstream/response-headers.js';
import type { AttemptSeat } from '../seat.js';

/**
 * One attempt against one endpoint, through the upstream client's `dispatch` (callbacks, no stream objects,
 * no promise per chunk; see upstream/client.ts). Nothing reaches the client until the attempt is known to be good:
 * an error status is buffered and handed back; an SSE response is held until its first content event
 * (`content_block_delta`, `message_delta` or `message_stop`: before it the client has nothing to show), so a
 * stream that dies, stalls or sends `event: error` after `message_start` can still fail over or be overtaken by a
 * hedge. After that, bytes pass straight through with backpressure, and a failure can only be reported in-band.
 */

export interface AttemptRequest {
  dispatcher: Upstream;
  origin: string;
  route: Route;
  path: string;
  method: string;
  headers: HeaderMap;
  /** The client's header lines that go on, as text (see upstreamRequestLines), written before `headers`. */
  headerLines?: string | undefined;
  body: Buffer | null;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  res: ClientResponse;
  /** Called once, at commit: the proxy's own headers, sent after the upstream's. */
  ownHeaders: () => HeaderMap;
  /** The client asked for a stream: a JSON answer (a relay ignoring `stream: true`) is replayed as SSE. */
  expectStream?: boolean;
  /** Monotonic clock in milliseconds (performance.now by default), for time to first byte. */
  now?: () => number;
  /** Shared with a hedge of the same request: the attempt claims the client before its first byte (seat.ts). */
  seat?: AttemptSeat | undefined;
}

const MAX_HELD_ERROR_BYTES = 1024 * 1024;
/**
 * What a stream may send before its first content and still be held: `message_start`, `content_block_start` and
 * pings are a few hundred bytes. A stream that sends more is committed (and loses its failover window) instead.
 */
export const MAX_SSE_HOLD = 256 * 1024;
const MAX_USAGE_SIDE_COPY = 4 * 1024 * 1024;

/** Usage from a decoded JSON answer; undefined when it is not readable (accounting must never fail a request). */
function jsonUsage(body: Buffer): Usage | undefined {
  try {
    return usageFromJson(body);
  } catch {
    return undefined;
  }
}

export function forwardAttempt(req: AttemptRequest): Promise<AttemptResult> {
  return new Attempt(req).result;
}

type Mode = 'waiting' | 'error-buffer' | 'sse-hold' | 'json-for-stream' | 'body-hold' | 'committed' | 'done';

/**
 * A non-stream answer is held until it is complete, up to this much: the client cannot use half a JSON answer
 * anyway, and an answer whose framing breaks (a bad chunk, a reset) before its end can then still fail over,
 * with nothing sent. Larger bodies are committed when the hold fills and pass through from there.
 */
const MAX_BODY_HOLD = 1024 * 1024;

const NO_HEADERS = ResponseHeaders.empty();

/**
 * The attempt's state and its exchange callbacks, as one object: this runs for every request, and one object
 * with its methods on the prototype costs far less to make than a closure per callback over shared variables.
 */
class Attempt implements ExchangeHandler {
  readonly result: Promise<AttemptResult>;
  private resolve!: (r: AttemptResult) => void;
  private readonly now: () => number;
  private readonly res: ClientResponse;
  private readonly started: number;
  private mode: Mode = 'waiting';
  private controller: ExchangeController | undefined;
  private status = 0;
  private upstreamHeaders = NO_HEADERS;
  private ttfbMs: number | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private scanner: SseScanner | undefined;
  private usageCopy: Buffer[] | undefined;
  private usageBytes = 0;
  private clientGone = false;
  private firstContentMs = 0;

  constructor(private readonly req: AttemptRequest) {
    this.now = req.now ?? performanceNow;
    this.res = req.res;
    this.started = this.now();
    this.result = new Promise<AttemptResult>((resolve) => {
      this.resolve = resolve;
    });
    this.res.on('close', this.onClientClose);
    req.seat?.bind(() => this.cancel());
    req.dispatcher.dispatch(
      {
        origin: req.origin,
        route: req.route,
        path: req.path,
        method: req.method,
        headers: req.headers,
        headerLines: req.headerLines,
        body: req.body,
        headersTimeout: req.headersTimeoutMs,
        bodyTimeout: req.idleTimeoutMs,
      },
      this,
    );
  }

  private finish(result: AttemptResult): void {
    if (this.mode === 'done') return;
    this.mode = 'done';
    this.res.off('close', this.onClientClose);
    this.resolve(result);
  }

  private heldResponse(): HeldResponse {
    return { status: this.status, headers: this.upstreamHeaders.object, body: Buffer.concat(this.held) };
  }

  private readonly onClientClose = (): void => {
    if (this.res.writableFinished || this.mode === 'done') return;
    this.clientGone = true;
    this.controller?.abort(new Error('client disconnected'));
    this.finish({ kind: 'client-abort', ...(this.ttfbMs !== undefined && { ttfbMs: this.ttfbMs }) });
  };

  /** Another attempt answered first: stop without a byte to the client, closing the upstream connection. */
  private cancel(): void {
    if (this.mode === 'done' || this.mode === 'committed') return;
    this.held = [];
    // Settled first: the abort may report an error synchronously, which must not read as this attempt's failure.
    this.finish({ kind: 'cancelled', ...(this.ttfbMs !== undefined && { ttfbMs: this.ttfbMs }), usage: this.scanner?.usage });
    this.controller?.abort(new Error('another attempt answered first'));
  }

  /**
   * About to write the first byte: take the client, unless a hedge of this request already has it (then this
   * attempt has been cancelled, and says so).
   */
  private claim(): boolean {
    if (this.req.seat !== undefined && !this.req.seat.claim()) {
      this.cancel();
      return false;
    }
    this.firstContentMs = this.now() - this.started;
    return true;
  }

  /** Claim the client and send the head; false when another attempt has it. */
  private commit(): boolean {
    if (!this.claim()) return false;
    // A stream goes out chunked whatever the upstream's framing: qcc may have to end it with its own error event.
    forwardHead(this.res, this.status, this.upstreamHeaders, this.req.ownHeaders(), this.scanner !== undefined);
    this.mode = 'committed';
    return true;
  }

  private write(chunk: Buffer): void {
    const c = this.controller;
    if (!this.res.write(chunk) && c && !c.paused) {
      c.pause();
      this.res.once('drain', () => c.resume());
    }
  }

  private endInBand(end: StreamEnd, message: string): void {
    // After the first byte there is no replay: tell the client in the protocol's own words and stop.
    if (this.scanner) this.res.end(anthropicErrorEvent('api_error', message));
    else this.res.destroy();
    this.finish({ kind: 'committed', status: this.status, ttfbMs: this.ttfbMs ?? 0, firstContentMs: this.firstContentMs, end, message, usage: this.scanner?.usage });
  }

  /**
   * The whole JSON answer is in: send it as the stream the client asked for (or as it is, if not a message).
   * A compressed answer is decoded off the event loop, within MAX_DECODED_BYTES; one that would decode to more
   * fails over like any answer that cannot be used, before anything reached the client.
   */
  private replayAsStream(): void {
    const raw = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    decodeBody(raw, this.upstreamHeaders.get('content-encoding')).then(
      (decoded) => this.sendReplay(raw, decoded),
      (err: unknown) => {
        if (err instanceof DecodeError && err.tooLarge) return this.finish({ kind: 'failed', failure: 'upstream', message: `JSON answer to a streaming request: ${err.message}`, ttfbMs: this.ttfbMs! });
        this.sendReplay(raw, undefined);
      },
    );
  }

  private sendReplay(raw: Buffer, decoded: Buffer | undefined): void {
    if (this.mode === 'done') return; // the client left (or a hedge answered) while it was being decoded
    if (!this.claim()) return;
    let events: string | undefined;
    try {
      events = decoded === undefined ? undefined : messageToSse(decoded);
    } catch {
      events = undefined;
    }
    const usage = decoded === undefined ? undefined : jsonUsage(decoded);
    if (events === undefined) {
      forwardHead(this.res, this.status, this.upstreamHeaders, this.req.ownHeaders(), false);
      this.mode = 'committed';
      this.res.end(raw);
    } else {
      const headers = Object.assign(clientResponseHeaders(this.upstreamHeaders.object), this.req.ownHeaders());
      delete headers['content-length'];
      delete headers['content-encoding'];
      headers['content-type'] = 'text/event-stream; charset=utf-8';
      this.res.writeHead(this.status, headers);
      this.mode = 'committed';
      this.res.end(events);
    }
    this.finish({ kind: 'committed', status: this.status, ttfbMs: this.ttfbMs!, firstContentMs: this.firstContentMs, end: 'complete', usage });
  }

  onRequestStart(c: ExchangeController): void {
    this.controller = c;
    if (this.clientGone) c.abort(new Error('client disconnected'));
  }

  onResponseStart(_c: ExchangeController, statusCode: number, headers: ResponseHeaders): void {
    if (statusCode < 200) return; // 1xx informational: the real status follows
    this.status = statusCode;
    this.upstreamHeaders = headers;
    this.ttfbMs = this.now() - this.started;
    if (statusCode >= 400) {
      this.mode = 'error-buffer';
      return;
    }
    const contentType = headers.get('content-type') ?? '';
    const encoding = (headers.get('content-encoding') ?? 'identity').toLowerCase();
    // A compressed stream (some relays compress even when asked not to) cannot be read on the side:
    // it is passed through as opaque bytes, committed at once.
    if (contentType.includes('text/event-stream') && encoding === 'identity') {
      this.scanner = new SseScanner();
      this.mode = 'sse-hold';
      return;
    }
    if (contentType.includes('json') && this.req.expectStream) {
      this.mode = 'json-for-stream';
      return;
    }
    if (contentType.includes('json')) this.usageCopy = [];
    // A compressed stream passes through at once (never held); any other body is held until complete.
    if (contentType.includes('text/event-stream')) this.commit();
    else this.mode = 'body-hold';
  }

  onResponseData(c: ExchangeController, chunk: Buffer): void {
    switch (this.mode) {
      case 'committed':
        // One piece per upstream read (the client coalesces HTTP chunks), so one scan and one write each.
        if (this.scanner) this.scanner.push(chunk);
        else if (this.usageCopy && (this.usageBytes += chunk.length) <= MAX_USAGE_SIDE_COPY) this.usageCopy.push(chunk);
        this.write(chunk);
        return;
      case 'json-for-stream':
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        if (this.heldBytes > MAX_DECODED_BYTES) {
          // Held to be replayed as a stream, so bounded like anything qcc holds; nothing has reached the client.
          c.abort(new Error('answer too large to replay'));
          this.held = [];
          this.finish({ kind: 'failed', failure: 'upstream', message: `JSON answer to a streaming request is over ${MAX_DECODED_BYTES} bytes`, ttfbMs: this.ttfbMs! });
        }
        return;
      case 'body-hold':
        this.held.push(chunk);
        this.heldBytes += chunk.length;
        if (this.heldBytes > MAX_BODY_HOLD) {
          // Too large to hold: from here it passes through; what was held is the start of the usage copy.
          if (!this.commit()) return;
          const held = this.held;
          this.held = [];
          if (this.usageCopy !== undefined) {
            this.usageCopy = held;
            this.usageBytes = this.heldBytes;
          }
          this.write(Buffer.concat(held));
        }
        return;
      case 'error-buffer':
        if (this.heldBytes + chunk.length <= MAX_HELD_ERROR_BYTES) {
          this.held.push(chunk);
          this.heldBytes += chunk.length;
        }
        return;
      case 'sse-hold': {
        const scanner = this.scanner!;
        this.held.push(chunk);
        scanner.push(chunk);
        this.heldBytes += chunk.length;
        if (scanner.errorBeforeContent) {
          const response = this.heldResponse();
          c.abort(new Error('stream sent an error event before any content'));
          const where = scanner.firstEvent === 'error' ? 'opened with' : 'sent, before any content,';
          this.finish({ kind: 'failed', failure: 'error-event', message: `stream ${where} event: error ${scanner.errorData ?? ''}`.trim(), ttfbMs: this.ttfbMs!, held: response });
          return;
        }
        // Held until the first content; bounded in bytes, and in time by the first-byte timeout (after which the
        // stream is let through as it is rather than failed: a slow start is not a broken one).
        if (!scanner.sawContent && this.heldBytes <= MAX_SSE_HOLD && this.now() - this.started < this.req.headersTimeoutMs) return;
        if (!this.commit()) return;
        this.write(this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held));
        this.held = [];
        return;
      }
      default:
        return;
    }
  }

  onResponseEnd(): void {
    switch (this.mode) {
      case 'error-buffer':
        return this.finish({ kind: 'error-response', ttfbMs: this.ttfbMs!, response: this.heldResponse() });
      case 'sse-hold':
        return this.finish({
          kind: 'failed',
          failure: 'empty-stream',
          message: this.scanner!.events === 0 ? 'stream closed before its first event' : 'stream closed before its first content',
          ttfbMs: this.ttfbMs!,
          held: this.heldResponse(),
        });
      case 'json-for-stream':
        return this.replayAsStream();
      case 'body-hold': {
        // Complete: head and body leave together (one write for most answers).
        const held = this.held;
        this.held = [];
        if (!this.commit()) return;
        this.res.end(held.length === 1 ? held[0]! : Buffer.concat(held));
        if (this.usageCopy !== undefined) {
          this.usageCopy = held;
          this.usageBytes = this.heldBytes;
        }
        return this.finishJson();
      }
      case 'committed': {
        const scanner = this.scanner;
        if (scanner && !scanner.sawMessageStop) return this.endInBand('truncated', 'upstream stream ended without message_stop');
        this.res.end();
        if (scanner) return this.finish({ kind: 'committed', status: this.status, ttfbMs: this.ttfbMs!, firstContentMs: this.firstContentMs, end: 'complete', usage: scanner.usage });
        return this.finishJson();
      }
      default:
        return;
    }
  }

  /**
   * A JSON answer has gone to the client in full: read its usage from the side copy. Uncompressed (the common
   * case) at once; compressed, on the thread pool within MAX_DECODED_BYTES, the attempt settling after it. Usage
   * that cannot be read is left out and the reason noted: accounting never costs the client anything.
   */
  private finishJson(): void {
    const done = { kind: 'committed', status: this.status, ttfbMs: this.ttfbMs!, firstContentMs: this.firstContentMs, end: 'complete' } as const;
    const copy = this.usageCopy;
    if (copy === undefined) return this.finish(done);
    if (this.usageBytes > MAX_USAGE_SIDE_COPY) return this.finish({ ...done, usageNote: `usage not read: answer over ${MAX_USAGE_SIDE_COPY} bytes` });
    const body = copy.length === 1 ? copy[0]! : Buffer.concat(copy);
    const coding = this.upstreamHeaders.get('content-encoding');
    if (contentCoding(coding) === 'identity') return this.finish({ ...done, usage: jsonUsage(body) });
    decodeBody(body, coding).then(
      (decoded) => this.finish({ ...done, usage: jsonUsage(decoded) }),
      (err: unknown) => this.finish({ ...done, usageNote: `usage not read: ${(err as Error).message}` }),
    );
  }

  onResponseError(_c: ExchangeController, err: Error): void {
    if (this.mode === 'done') return;
    if (this.clientGone) return this.finish({ kind: 'client-abort', ...(this.ttfbMs !== undefined && { ttfbMs: this.ttfbMs }) });
    if (this.mode === 'committed') {
      const idle = (err as NodeJS.ErrnoException).code === 'QCC_BODY_TIMEOUT';
      return this.endInBand('upstream-error', idle ? 'upstream stream went idle' : `upstream connection failed mid-response: ${err.message}`);
    }
    const failure = this.mode === 'sse-hold' ? 'empty-stream' : failureOf(err);
    const message = this.mode === 'sse-hold' && this.scanner!.events > 0 ? `stream broke before its first content: ${err.message}` : err.message;
    this.finish({ kind: 'failed', failure, message, ...(this.ttfbMs !== undefined && { ttfbMs: this.ttfbMs }) });
  }
}

function performanceNow(): number {
  return performance.now();
}
