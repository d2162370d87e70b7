import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { BufferedRequest } from './exchange-types.js';
import type { RequestLines } from './request-lines.js';
import { MAX_FAST_HEAD_BYTES, parseFastHead, type FastMethod, type FastRequestHead } from './request-head.js';
import { FrontResponse, type ResponseOwner } from './response.js';

/** What a connection needs from the server that accepted it. */
export interface ConnectionHost {
  readonly keepAliveSeconds: number;
  /** True once the server is closing: responses end their connection. */
  readonly closing: boolean;
  maxBodyBytes(): number;
  /**
   * Hold `bytes` of request body until the response ends, within the server's cap on buffered request bytes
   * across all connections; false: over the cap (the body is then never read into memory).
   */
  reserveBody(bytes: number): boolean;
  releaseBody(bytes: number): void;
  serve(req: FrontRequest, res: FrontResponse): void;
  /** Give the socket, with `unread` put back in front of it, to Node's HTTP server for the rest of its life. */
  handOff(socket: Socket, unread: Buffer | undefined): void;
  forget(conn: FrontConnection): void;
}

export class FrontRequest implements BufferedRequest {
  readonly method: FastMethod;
  readonly url: string;
  readonly lines: RequestLines;
  readonly contentLength: number;
  readonly bodyNow: Buffer | undefined;
  private pending: Promise<Buffer> | undefined;

  /** `body` is the whole body when it came with the head, else a promise of it. */
  constructor(
    head: FastRequestHead,
    body: Buffer | Promise<Buffer>,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.lines = head.lines;
    this.contentLength = head.contentLength;
    if (body instanceof Promise) this.pending = body;
    else this.bodyNow = body;
  }

  /** Made if something asks (the proxy itself reads `lines`). */
  get headers(): IncomingHttpHeaders {
    return this.lines.object;
  }

  get body(): Promise<Buffer> {
    // Made only if asked for: the proxy takes bodyNow when it is there.
    return (this.pending ??= Promise.resolve(this.bodyNow!));
  }
}

/** A body arriving over several reads. */
/** Why a request body never came: the server's own reasons, for the handler to answer in its own words. */
export class BodyError extends Error {
  constructor(
    /** `timeout`: too slow (idle or in total); `busy`: the server holds too many request bytes already. */
    readonly reason: 'timeout' | 'busy' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

class BodyCollector {
  private chunks: Buffer[] = [];
  private received = 0;
  /** Counted but not kept: nobody will read the body (the request was refused or answered without it). */
  private discarding = false;
  readonly body: Promise<Buffer>;
  private resolve!: (b: Buffer) => void;
  private reject!: (e: Error) => void;
  /** performance.now() of the body's start and of its last bytes, for the server's body timeouts. */
  readonly startedAt = performance.now();
  lastDataAt = this.startedAt;

  constructor(private readonly length: number) {
    this.body = new Promise<Buffer>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A handler that answered without reading the body (a refused key) must not see an unhandled rejection.
    this.body.catch(() => undefined);
  }

  /** Take what belongs to the body; returns the bytes after it (the next request), if any. */
  take(chunk: Buffer): { done: boolean; rest: Buffer | undefined } {
    const want = this.length - this.received;
    const piece = chunk.length <= want ? chunk : chunk.subarray(0, want);
    if (!this.discarding) this.chunks.push(piece);
    this.received += piece.length;
    this.lastDataAt = performance.now();
    const done = this.received === this.length;
    if (done && !this.discarding) this.resolve(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length));
    return { done, rest: chunk.length > want ? chunk.subarray(want) : undefined };
  }

  /** Keep reading (the connection stays in step) but hold nothing. */
  discard(err: BodyError): void {
    this.discarding = true;
    this.chunks = [];
    this.reject(err);
  }

  fail(err: BodyError = new BodyError('closed', 'client closed the connection before sending the whole body')): void {
    this.chunks = [];
    this.reject(err);
  }
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** A LF not preceded by CR: a line end HTTP/1.1 does not allow (only looked for while a head is incomplete). */
function hasBareLf(buf: Buffer): boolean {
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  return false;
}
/** Pipelined bytes held while a response is being written; past this the socket is paused. */
const MAX_HELD_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * One client connection on the fast path: requests read one at a time (a pipelined one waits until the response
 * before it is written), keep-alive, and the hand-off to Node's server the moment a request is not
 * one the fast path takes.
 */
export class FrontConnection implements ResponseOwner {
  /** Bytes read but not yet parsed: a partial head, or requests pipelined behind the current one. */
  private unread: Buffer | undefined;
  private res: FrontResponse | undefined;
  private collector: BodyCollector | undefined;
  private done = false;
  /** For the server's sweep (monotonic ms, immune to clock steps): when the connection fell idle, and when a
   * partial head began (-1: not now). */
  idleSince: number;
  headStartedAt = -1;
  /** Body bytes this connection's current request holds against the server's cap. */
  private reserved = 0;

  constructor(
    readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    this.idleSince = performance.now();
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onClose);
    socket.on('error', onSocketError);
    socket.on('drain', this.onDrain);
  }

  get keepAliveSeconds(): number {
    return this.host.keepAliveSeconds;
  }

  get closing(): boolean {
    return this.host.closing;
  }

  /** Neither a request nor a partial one in progress. */
  get idle(): boolean {
    return this.res === undefined && this.collector === undefined && this.unread === undefined;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    let rest: Buffer | undefined = chunk;
    if (this.collector !== undefined) {
      const taken = this.collector.take(chunk);
      rest = taken.rest;
      if (taken.done) {
        this.collector = undefined;
        if (this.res === undefined) this.requestOver();
      }
      if (rest === undefined) return;
    }
    this.unread = this.unread === undefined ? rest : Buffer.concat([this.unread, rest]);
    if (this.res !== undefined || this.collector !== undefined) {
      // Pipelined: held until the current response is written. Enough of it, and the client waits.
      if (this.unread.length > MAX_HELD_BYTES) this.socket.pause();
      return;
    }
    this.serveNext();
  };

  /** Parse and serve the next request in `unread`, if a whole head is there. */
  private serveNext(): void {
    const buf = this.unread;
    if (buf === undefined || this.done || this.res !== undefined || this.collector !== undefined) return;
    const end = buf.indexOf(CRLFCRLF);
    if (end === -1) {
      // A head with bare-LF line ends never shows a CRLFCRLF: Node's parser answers it (400) at once, as llhttp
      // does, instead of it waiting here for the headers timeout.
      if (buf.length > MAX_FAST_HEAD_BYTES || hasBareLf(buf)) return this.handOff();
      if (this.headStartedAt < 0) this.headStartedAt = performance.now();
      return;
    }
    const head = end <= MAX_FAST_HEAD_BYTES ? parseFastHead(buf.toString('latin1', 0, end)) : undefined;
    if (head === undefined || head.contentLength > this.host.maxBodyBytes()) return this.handOff();
    this.headStartedAt = -1;
    this.idleSince = -1;

    const bodyStart = end + 4;
    const bodyEnd = bodyStart + head.contentLength;
    let body: Buffer | Promise<Buffer>;
    const admitted = this.host.reserveBody(head.contentLength);
    if (admitted) this.reserved = head.contentLength;
    if (admitted && bodyEnd <= buf.length) {
      // The usual case: the whole request came in one read.
      body = head.contentLength === 0 ? EMPTY : buf.subarray(bodyStart, bodyEnd);
      this.unread = bodyEnd < buf.length ? buf.subarray(bodyEnd) : undefined;
    } else {
      const collector = new BodyCollector(head.contentLength);
      // Over the cap: the body is read past and dropped (the connection stays in step), the handler told why.
      if (!admitted) collector.discard(new BodyError('busy', 'qcc holds too many request bytes already'));
      const taken = bodyStart < buf.length ? collector.take(buf.subarray(bodyStart)) : { done: false, rest: undefined };
      this.collector = taken.done ? undefined : collector;
      body = collector.body;
      this.unread = taken.rest;
    }
    const res = new FrontResponse(this, head.keepAlive && !this.host.closing, head.method === 'HEAD');
    this.res = res;
    this.host.serve(new FrontRequest(head, body), res);
  }

  responseFinished(res: FrontResponse): void {
    if (this.res !== res) return;
    this.res = undefined;
    this.releaseBody();
    // Answered before its body was all in (a refused key): the rest is read past, not kept.
    this.collector?.discard(new BodyError('closed', 'the request was answered before its body was complete'));
    if (!res.keepAlive) return this.finish();
    if (this.collector === undefined) this.requestOver();
  }

  private releaseBody(): void {
    if (this.reserved === 0) return;
    this.host.releaseBody(this.reserved);
    this.reserved = 0;
  }

  /** Set by the server's sweep: when the current body began arriving and last moved (-1: no body on its way). */
  get bodyStartedAt(): number {
    return this.collector === undefined ? -1 : this.collector.startedAt;
  }

  get bodyLastDataAt(): number {
    return this.collector === undefined ? -1 : this.collector.lastDataAt;
  }

  /**
   * A body too slow (idle or in total): the handler is told (its answer is a 408) and the connection closes
   * after that answer; what is still to come is not read. Memory it held is let go now.
   */
  bodyTimedOut(idle: boolean): void {
    const collector = this.collector;
    if (collector === undefined) return;
    this.collector = undefined;
    this.done = true; // nothing more is read from this connection
    collector.fail(new BodyError('timeout', idle ? 'the request body stopped arriving' : 'the request body took too long to arrive'));
    this.releaseBody();
    if (this.res === undefined || this.res.writableFinished) return void this.socket.destroy();
    this.res.keepAlive = false;
    // The handler answers on the next turn; a connection it leaves open is closed after a grace period.
    setTimeout(() => this.socket.destroySoon(), 2_000).unref();
  }

  /** Both the request and its response are complete: on to the next one, or close. */
  private requestOver(): void {
    if (this.done) return;
    if (this.host.closing) return this.finish();
    if (this.unread !== undefined) {
      // A pipelined request: served on the next tick, so a long pipeline does not grow the stack.
      if (this.socket.isPaused()) this.socket.resume();
      process.nextTick(() => this.serveNext());
      return;
    }
    this.idleSince = performance.now();
  }

  private readonly onEnd = (): void => {
    // As in Node's HTTP server (httpAllowHalfOpen off): a client that stops sending has left. A request being
    // read or answered is abandoned now, so the proxy stops its upstream at once rather than at its next write.
    if (this.res !== undefined || this.collector !== undefined) this.socket.destroy();
    else this.finish();
  };

  private readonly onClose = (): void => {
    this.done = true;
    this.host.forget(this);
    this.collector?.fail();
    this.collector = undefined;
    this.releaseBody();
    this.res?.connectionClosed();
  };

  private readonly onDrain = (): void => {
    this.res?.drained();
  };

  /** The keep-alive limit passed: close quietly. */
  closeIdle(): void {
    if (this.idle) this.socket.destroy();
  }

  /** A head still incomplete after the limit: 408, as Node's server answers. */
  headersTimedOut(): void {
    this.done = true;
    this.headStartedAt = -1; // answered once; the sweep leaves it to close
    this.socket.write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    this.socket.destroySoon();
  }

  /** Close our side after the last response (the socket is ended, not destroyed, so it is flushed first). */
  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.socket.end();
  }

  private handOff(): void {
    this.done = true;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onClose);
    socket.off('error', onSocketError);
    socket.off('drain', this.onDrain);
    this.host.forget(this);
    const unread = this.unread;
    this.unread = undefined;
    this.host.handOff(socket, unread);
  }
}

/** Resets and the like: 'close' follows, which is where the connection is cleaned up. */
function onSocketError(): void {}
