import type { IncomingHttpHeaders } from 'node:http';
import type { Connection } from './connection.js';
import type { ResponseHeaders } from './response-headers.js';
import type { Deadlines, Timed } from './deadlines.js';
import { UpstreamError, type ExchangeController, type ExchangeHandler, type UpstreamRequest } from './types.js';

const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

/** One request and its response: the controller handed to the handler. */
export class Exchange implements ExchangeController, Timed {
  aborted = false;
  paused = false;
  reason: Error | null = null;
  done = false;
  /** Response bytes seen (a connection that closes before any, with the request unwritten, may re-send it). */
  responded = false;
  connection: Connection | undefined;
  /** The final response head has arrived: the first-byte clock is done, the idle clock applies. */
  private headSeen = false;
  /** Kept by `clocks`: when the first byte (or, once the head is in, the next read) is due. */
  deadline = Number.POSITIVE_INFINITY;
  slot = -1;
  private clockIsIdle = false;

  constructor(
    readonly request: UpstreamRequest,
    readonly head: string,
    readonly handler: ExchangeHandler,
    private readonly clocks: Deadlines,
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
    this.stopClock();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.done) return;
    this.connection?.socket.resume();
    if (this.headSeen) this.startIdleClock();
  }

  /** The request is on its way (the connection is open and the bytes are written or queued). */
  sent(): void {
    this.stopClock(); // a retry on a fresh connection starts the clock again
    const ms = this.request.headersTimeout;
    if (ms !== undefined && ms > 0) this.clocks.start(this, ms);
  }

  expired(): void {
    if (this.clockIsIdle) this.fail(new UpstreamError('QCC_BODY_TIMEOUT', `no response data for ${this.request.bodyTimeout} ms`));
    else this.fail(new UpstreamError('QCC_HEADERS_TIMEOUT', `no response within ${this.request.headersTimeout} ms`));
  }

  responseStart(status: number, headers: ResponseHeaders): void {
    this.headSeen = true;
    this.stopClock();
    this.handler.onResponseStart?.(this, status, headers);
  }

  /**
   * A socket read has been parsed and the response is not complete: now the idle clock must run. Started here
   * rather than at the head, so a response that arrives whole in one read (most JSON answers) never starts it.
   */
  readParsed(): void {
    if (this.headSeen && !this.done && !this.paused && this.deadline === Number.POSITIVE_INFINITY) this.startIdleClock();
  }

  responseData(chunk: Buffer): void {
    if (this.clockIsIdle) this.clocks.extend(this, this.request.bodyTimeout!);
    this.handler.onResponseData?.(this, chunk);
  }

  responseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.stopClock();
    this.connection = undefined;
    this.handler.onResponseEnd?.(this, NO_TRAILERS);
  }

  /** End the exchange with an error; the connection (if any) cannot be trusted with another request. */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.stopClock();
    const conn = this.connection;
    this.connection = undefined;
    if (conn) conn.drop(this);
    this.handler.onResponseError?.(this, err);
  }

  private startIdleClock(): void {
    this.stopClock();
    const ms = this.request.bodyTimeout;
    if (ms === undefined || ms <= 0 || this.paused) return;
    this.clocks.start(this, ms);
    this.clockIsIdle = true;
  }

  private stopClock(): void {
    this.clocks.stop(this);
    this.clockIsIdle = false;
  }
}
