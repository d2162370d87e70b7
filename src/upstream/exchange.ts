import type { IncomingHttpHeaders } from 'node:http';
import type { Connection } from './connection.js';
import { UpstreamError, type ExchangeController, type ExchangeHandler, type UpstreamRequest } from './types.js';

const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

/** One request and its response: the controller handed to the handler. */
export class Exchange implements ExchangeController {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  done = false;
  /** Response bytes seen: a reused connection that closes before any is a stale keep-alive, safe to retry. */
  responded = false;
  connection: Connection | undefined;
  /** The final response head has arrived: the first-byte clock is done, the idle clock applies. */
  private headSeen = false;
  private timer: NodeJS.Timeout | undefined;
  private timerIsIdle = false;

  constructor(
    readonly request: UpstreamRequest,
    readonly head: string,
    readonly handler: ExchangeHandler,
  ) {}

  abort(reason: Error): void {
    if (this.done) return;
    this.aborted = true;
    this.reason = reason;
    this.fail(reason);
  }

  pause(): void {
    if (this.done || this.paused) return;
    this.paused = true;
    this.connection?.socket.pause();
    // The reader is slow, not the upstream: the idle clock stops while paused.
    this.clearTimer();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.done) return;
    this.connection?.socket.resume();
    if (this.headSeen) this.startIdleTimer();
  }

  /** The request is on its way (the connection is open and the bytes are written or queued). */
  sent(): void {
    this.clearTimer(); // a retry on a fresh connection starts the clock again
    const ms = this.request.headersTimeout;
    if (ms !== undefined && ms > 0) {
      this.timer = setTimeout(() => this.fail(new UpstreamError('QCC_HEADERS_TIMEOUT', `no response within ${ms} ms`)), ms);
      this.timerIsIdle = false;
    }
  }

  responseStart(status: number, headers: IncomingHttpHeaders): void {
    this.headSeen = true;
    this.clearTimer();
    this.handler.onResponseStart?.(this, status, headers);
  }

  /**
   * A socket read has been parsed and the response is not complete: now the idle clock must run. Started here
   * rather than at the head, so a response that arrives whole in one read (most JSON answers) never sets a timer.
   */
  readParsed(): void {
    if (this.headSeen && !this.done && !this.paused && this.timer === undefined) this.startIdleTimer();
  }

  responseData(chunk: Buffer): void {
    if (this.timerIsIdle) this.timer?.refresh();
    this.handler.onResponseData?.(this, chunk);
  }

  responseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    this.connection = undefined;
    this.handler.onResponseEnd?.(this, NO_TRAILERS);
  }

  /** End the exchange with an error; the connection (if any) cannot be trusted with another request. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.clearTimer();
    const conn = this.connection;
    this.connection = undefined;
    if (conn) conn.drop(this);
    this.handler.onResponseError?.(this, err);
  }

  private startIdleTimer(): void {
    this.clearTimer();
    const ms = this.request.bodyTimeout;
    if (ms === undefined || ms <= 0 || this.paused) return;
    this.timer = setTimeout(() => this.fail(new UpstreamError('QCC_BODY_TIMEOUT', `no response data for ${ms} ms`)), ms);
    this.timerIsIdle = true;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerIsIdle = false;
  }
}
