import { STATUS_CODES, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { ClientResponse, ForwardedLines } from './exchange-types.js';
import { joinHeadAndBody, JOIN_BODY_BYTES } from './join.js';
import { Listeners } from './listeners.js';
import { HTTP_TOKEN as TOKEN } from '../shared/http-grammar.js';

/**
 * A response written straight to the client's socket: the status line and headers as one string, the body
 * framed by Content-Length when the caller gives one and chunked otherwise. It adds what Node's ServerResponse
 * adds (Date, Connection, Keep-Alive, Transfer-Encoding) with the same spelling, refuses the same malformed
 * headers, and holds the head back until the first body write so that head and body leave in one `writev`.
 */

/** What Node's ServerResponse refuses in a header value (a CR or LF would let a value start a new header). */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CHUNK_END = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';
/** writeHead's: no upstream lines before the headers given. */
const NO_LINES: ForwardedLines = { text: '', contentLength: undefined, date: false };

/**
 * `.then` on a settled promise queues a microtask. (Node's queueMicrotask would too, but wraps every callback in
 * an AsyncResource for async_hooks' sake, which cost more than the tick it replaces.)
 */
const afterThisTask = Promise.resolve();

/** The Date header's value, made at most once a second (as Node does). */
let cachedDate: string | undefined;
function httpDate(): string {
  if (cachedDate === undefined) {
    const now = new Date();
    cachedDate = now.toUTCString();
    setTimeout(() => (cachedDate = undefined), 1000 - now.getMilliseconds()).unref();
  }
  return cachedDate;
}

export interface ResponseOwner {
  readonly socket: Socket;
  /** Seconds announced in `Keep-Alive: timeout=N`. */
  readonly keepAliveSeconds: number;
  /** The server is shutting down: no response promises keep-alive. */
  readonly closing: boolean;
  /** The response has been written in full; the connection may read the next request or close. */
  responseFinished(res: FrontResponse): void;
}

export class FrontResponse implements ClientResponse {
  headersSent = false;
  private readonly closeListeners = new Listeners();
  /** Made when someone waits for 'drain' (a client reading slower than the upstream writes): rarely. */
  private drainListeners: Listeners | undefined;
  private finished = false;
  private closed = false;
  /** The head, written together with the first piece of body. */
  private pendingHead: string | undefined;
  private chunked = false;
  private corked = false;
  /** HEAD, 204, 304: whatever body the handler writes is dropped, as Node's ServerResponse drops it. */
  private bodiless = false;
  private extraHeaders: Record<string, string> | undefined;
  /** The Content-Length the handler gave, when it is a plain number: a write of exactly that is the whole body. */
  private declaredLength = -1;
  /**
   * Body bytes written against declaredLength. The writer keeps its own framing whatever it is handed: nothing
   * past the declared length is written, and a body that ends at any other length closes the connection after
   * it, so the client sees that response fail rather than read its rest as the next response.
   */
  private bodyWritten = 0;

  constructor(
    private readonly owner: ResponseOwner,
    /** Whether the connection stays open after this response (the client's wish, then the server's). */
    public keepAlive: boolean,
    /** The answer to a HEAD: headers only, whatever body the handler writes (as Node does). */
    private readonly headOnly = false,
  ) {}

  on(event: 'close' | 'drain', listener: () => void): this {
    this.listeners(event).add(listener, false);
    return this;
  }

  once(event: 'close' | 'drain', listener: () => void): this {
    this.listeners(event).add(listener, true);
    return this;
  }

  off(event: 'close' | 'drain', listener: () => void): this {
    this.listeners(event).remove(listener);
    return this;
  }

  /** The connection can take more: 'drain' for whoever waits. */
  drained(): void {
    this.drainListeners?.emit();
  }

  private listeners(event: 'close' | 'drain'): Listeners {
    return event === 'close' ? this.closeListeners : (this.drainListeners ??= new Listeners());
  }

  get writableFinished(): boolean {
    return this.finished;
  }

  setHeader(name: string, value: string): this {
    if (this.headersSent) throw new Error('headers already sent');
    if (name.toLowerCase() === 'connection') {
      if (value.toLowerCase() === 'close') this.keepAlive = false;
      return this;
    }
    (this.extraHeaders ??= {})[name] = value;
    return this;
  }

  writeHead(status: number, headers: OutgoingHttpHeaders): this {
    return this.writeForwardedHead(status, NO_LINES, headers);
  }

  /**
   * writeHead with an upstream's header lines first, written as they are: the upstream response parser has
   * validated them already, and they are hop-by-hop free (forwardedLines in protocols/anthropic/headers.ts).
   */
  writeForwardedHead(status: number, lines: ForwardedLines, headers: OutgoingHttpHeaders): this {
    if (this.headersSent) throw new Error('headers already sent');
    if (this.owner.closing) this.keepAlive = false;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}${lines.text}\r\n`;
    let hasDate = lines.date;
    let hasLength = lines.contentLength !== undefined;
    if (hasLength) this.declareLength(lines.contentLength);
    const add = (name: string, value: OutgoingHttpHeaders[string]) => {
      if (value === undefined) return;
      if (!TOKEN.test(name)) throw invalidHeader(`invalid header name "${name}"`);
      // Framing and connection headers are the server's to write, as in Node; the rest go out as given.
      switch (name.length) {
        case 4:
          if (name.toLowerCase() === 'date') hasDate = true;
          break;
        case 10: {
          const lower = name.toLowerCase();
          if (lower === 'connection') {
            if (String(value).toLowerCase() === 'close') this.keepAlive = false;
            return;
          }
          if (lower === 'keep-alive') return;
          break;
        }
        case 14:
          if (name.toLowerCase() === 'content-length') {
            hasLength = true;
            this.declareLength(value);
          }
          break;
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') return;
          break;
      }
      if (Array.isArray(value)) {
        for (const v of value) head += headerLine(name, v);
      } else {
        head += headerLine(name, typeof value === 'string' ? value : String(value));
      }
    };
    for (const name in headers) add(name, headers[name]);
    if (this.extraHeaders) for (const name in this.extraHeaders) add(name, this.extraHeaders[name]);
    if (!hasDate) head += `Date: ${httpDate()}\r\n`;
    head += this.keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${this.owner.keepAliveSeconds}\r\n` : 'Connection: close\r\n';
    this.bodiless = this.headOnly || status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!hasLength && !this.bodiless) {
      this.chunked = true;
      head += 'Transfer-Encoding: chunked\r\n';
    }
    this.pendingHead = `${head}\r\n`;
    this.headersSent = true;
    return this;
  }

  private declareLength(value: OutgoingHttpHeaders[string]): void {
    const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n >= 0) this.declaredLength = n;
  }

  /** `chunk`, cut to what the declared Content-Length still has room for (see bodyWritten). */
  private withinLength(chunk: Buffer | string, length: number): { chunk: Buffer | string; length: number } {
    if (this.chunked || this.declaredLength < 0 || length === 0) return { chunk, length };
    const room = this.declaredLength - this.bodyWritten;
    if (length <= room) {
      this.bodyWritten += length;
      return { chunk, length };
    }
    this.bodyWritten = this.declaredLength;
    this.keepAlive = false; // more was offered than declared: this connection cannot be trusted with another
    const cut = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).subarray(0, room);
    return { chunk: cut, length: room };
  }

  write(data: Buffer | string): boolean {
    if (this.finished || this.closed) return false;
    if (!this.headersSent) this.writeHead(200, {});
    const socket = this.owner.socket;
    const { chunk, length } = this.withinLength(data, this.bodiless ? 0 : typeof data === 'string' ? Buffer.byteLength(data) : data.length);
    if (length === 0) {
      // Nothing to frame (and an empty chunk would end a chunked body), but the head may still be due.
      if (this.pendingHead === undefined) return socket.writableLength < socket.writableHighWaterMark;
      this.corkForThisTask();
      return socket.write(this.takeHead(), 'latin1');
    }
    // The whole body at once, with the head (most JSON answers): one buffer, and nothing left to wait for.
    if (this.isWholeBody(chunk)) return socket.write(joinHeadAndBody(this.takeHead(), chunk));
    this.corkForThisTask();
    // The socket's own answer: false means it will emit 'drain'.
    if (this.chunked) return this.writeChunk(socket, chunk, length, CHUNK_END);
    if (this.pendingHead !== undefined) socket.write(this.takeHead(), 'latin1');
    return socket.write(chunk);
  }

  end(data?: Buffer | string): this {
    if (this.finished || this.closed) return this;
    if (!this.headersSent) this.writeHead(200, {});
    const socket = this.owner.socket;
    const given = data === undefined || this.bodiless ? 0 : typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    const { chunk, length } = data === undefined ? { chunk: undefined, length: 0 } : this.withinLength(data, given);
    // A declared length the body did not reach: the client must see this response end short, not wait on it.
    if (!this.chunked && !this.bodiless && this.declaredLength >= 0 && this.bodyWritten !== this.declaredLength) this.keepAlive = false;
    if (chunk !== undefined && this.isWholeBody(chunk)) {
      socket.write(joinHeadAndBody(this.takeHead(), chunk));
    } else if (this.pendingHead === undefined && length === 0 && !this.chunked) {
      // Everything is written already (or is being, corked until the end of this tick).
    } else {
      this.writeRest(socket, chunk, length);
    }
    this.uncork();
    this.finished = true;
    this.owner.responseFinished(this);
    // After the caller's synchronous code, as Node's ServerResponse emits it; a microtask rather than a tick, so
    // that the upstream read which ends a response does not make Node run its tick queue for this alone.
    void afterThisTask.then(() => this.notifyClosed());
    return this;
  }

  /** A Buffer that is the whole Content-Length body, with the head still to go and small enough to copy. */
  private isWholeBody(chunk: Buffer | string): chunk is Buffer {
    return this.pendingHead !== undefined && !this.chunked && !this.bodiless && typeof chunk !== 'string' && chunk.length === this.declaredLength && chunk.length <= JOIN_BODY_BYTES;
  }

  /** end()'s writes: the head if still due, the last piece of body, the chunked terminator. */
  private writeRest(socket: Socket, chunk: Buffer | string | undefined, length: number): void {
    this.corkForThisTask();
    if (this.chunked) {
      if (length > 0) {
        this.writeChunk(socket, chunk!, length, `${CHUNK_END}${LAST_CHUNK}`);
      } else {
        socket.write(`${this.takeHead()}${LAST_CHUNK}`, 'latin1');
      }
    } else {
      if (this.pendingHead !== undefined) socket.write(this.takeHead(), 'latin1');
      if (length > 0) socket.write(chunk!);
    }
  }

  /**
   * One chunk of a chunked body, the head first if it is still due, and `tail` (its CRLF, or that and the last
   * chunk) after it. A small chunk — a stream's event, as a model's tokens arrive one read at a time — leaves as
   * one buffer: copying it costs less than three writes queued in the corked socket and sent with `writev`.
   */
  private writeChunk(socket: Socket, chunk: Buffer | string, length: number, tail: string): boolean {
    const sizeLine = `${this.takeHead()}${length.toString(16)}\r\n`;
    if (typeof chunk !== 'string' && length <= JOIN_BODY_BYTES) return socket.write(joinHeadAndBody(sizeLine, chunk, tail));
    socket.write(sizeLine, 'latin1');
    socket.write(chunk);
    return socket.write(tail, 'latin1');
  }

  destroy(): this {
    this.owner.socket.destroy();
    return this;
  }

  /** The connection closed: a response that was not finished ends here (the proxy stops its upstream). */
  connectionClosed(): void {
    if (!this.finished) this.notifyClosed();
  }

  /** 'close', once, whether the response finished or the connection went first. */
  notifyClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.closeListeners.emit();
  }

  /**
   * Writes made in one task leave in one syscall, as Node's ServerResponse arranges too (with a tick): the last
   * piece of a stream and its terminating chunk are usually decoded from the same upstream read, and on loopback
   * every separate write is a syscall that also runs the receiver's side of TCP. Uncorked in a microtask: it runs
   * once the read's synchronous work is done, like a tick, without making Node run its tick queue per read.
   */
  private corkForThisTask(): void {
    if (this.corked) return;
    this.corked = true;
    this.owner.socket.cork();
    void afterThisTask.then(() => this.uncork());
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.owner.socket.uncork();
  }

  private takeHead(): string {
    const head = this.pendingHead ?? '';
    this.pendingHead = undefined;
    return head;
  }
}

function headerLine(name: string, value: string): string {
  if (INVALID_VALUE.test(value)) throw invalidHeader(`invalid character in header "${name}"`);
  return `${name}: ${value}\r\n`;
}

function invalidHeader(message: string): Error {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_CHAR' });
}
