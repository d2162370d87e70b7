import type { IncomingHttpHeaders } from 'node:http';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ResponseParser, type ResponseSink } from './response-parser.js';

/**
 * The HTTP/1.1 client that carries every proxied request to its endpoint: keep-alive connections per origin,
 * plain or TLS, one request per connection at a time.
 *
 * Written by hand instead of using undici because it is the hot path — it runs for every request and every
 * streamed read — and undici's general machinery (dispatcher chain, handler adapters, header validation and
 * body plumbing for every kind of body, per-HTTP-chunk callbacks) was the largest share of qcc's own CPU per
 * request (see bench/NOTES.md). It does only what forwarding a buffered request needs. The interface is
 * undici's `dispatch(options, handler)` with its controller, so the forwarding code reads the same with
 * either; undici remains the client for everything off the hot path (health checks, the CLI).
 */

export type HeaderMap = Record<string, string | string[]>;

export interface UpstreamRequest {
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  path: string;
  method: string;
  headers: HeaderMap;
  body: Buffer | null;
  /** Time allowed from the request being written to the response head (first byte). */
  headersTimeout?: number;
  /** Time allowed between two reads of the response body. */
  bodyTimeout?: number;
}

export interface ExchangeController {
  readonly aborted: boolean;
  readonly paused: boolean;
  readonly reason: Error | null;
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** The subset of undici's DispatchHandler that qcc implements; handlers written for one work with the other. */
export interface ExchangeHandler {
  onRequestStart?(controller: ExchangeController, context: unknown): void;
  onResponseStart?(controller: ExchangeController, statusCode: number, headers: IncomingHttpHeaders): void;
  onResponseData?(controller: ExchangeController, chunk: Buffer): void;
  onResponseEnd?(controller: ExchangeController, trailers: IncomingHttpHeaders): void;
  onResponseError?(controller: ExchangeController, error: Error): void;
}

/** What the forwarding code needs from a client: undici's Agent satisfies it too. */
export interface Upstream {
  dispatch(request: UpstreamRequest, handler: ExchangeHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

export type UpstreamErrorCode =
  | 'QCC_CONNECT_TIMEOUT'
  | 'QCC_HEADERS_TIMEOUT'
  | 'QCC_BODY_TIMEOUT'
  | 'QCC_UPSTREAM_CLOSED'
  | 'QCC_UPSTREAM_PROTOCOL'
  | 'QCC_BAD_REQUEST'
  | 'QCC_CLIENT_CLOSED';

export class UpstreamError extends Error {
  constructor(
    readonly code: UpstreamErrorCode | string,
    message: string,
    /** True when the request never reached the upstream (the connection was not established). */
    readonly beforeWrite = false,
  ) {
    super(message);
  }
}

export interface UpstreamClientOptions {
  connectTimeoutMs?: number;
  /** Longest an idle connection is kept; shorter when the upstream announces `Keep-Alive: timeout=N`. */
  keepAliveMs?: number;
  /** Trust these roots for TLS instead of Node's (a relay behind a private CA; tests). */
  ca?: string | Buffer;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_MS = 30_000;
/** Give up an idle connection this long before the upstream said it would close it, so the two never cross. */
const KEEP_ALIVE_MARGIN_MS = 1_000;
const SWEEP_INTERVAL_MS = 1_000;

/** Header fields the client frames itself: never taken from the caller. */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\r\n\0]/;
const INVALID_TARGET = /[\s\0]/;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const NO_TRAILERS: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

/** The request line and header block, or an error naming what a caller got wrong. */
function requestHead(req: UpstreamRequest, host: string): string {
  if (!TOKEN.test(req.method)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid method "${req.method}"`, true);
  if (!req.path.startsWith('/') || INVALID_TARGET.test(req.path)) throw new UpstreamError('QCC_BAD_REQUEST', 'invalid request path', true);
  let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${host}\r\n`;
  const headers = req.headers;
  for (const name in headers) {
    const value = headers[name]!;
    const lower = name.toLowerCase();
    if (OWN_HEADERS.has(lower)) continue;
    if (!TOKEN.test(name)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid header name "${name.slice(0, 40)}"`, true);
    if (typeof value === 'string') {
      if (INVALID_VALUE.test(value)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid value for header ${name}`, true);
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) {
        if (INVALID_VALUE.test(v)) throw new UpstreamError('QCC_BAD_REQUEST', `invalid value for header ${name}`, true);
        head += `${name}: ${v}\r\n`;
      }
    }
  }
  if (req.body !== null) head += `content-length: ${req.body.length}\r\n`;
  else if (METHODS_WITH_BODY.has(req.method)) head += 'content-length: 0\r\n';
  return `${head}\r\n`;
}

/** `Keep-Alive: timeout=5` → how long qcc may keep the connection idle, in ms. */
function keepAliveLimit(value: string | string[] | undefined, max: number): number {
  if (value === undefined) return max;
  const m = /timeout\s*=\s*(\d+)/i.exec(String(value));
  if (!m) return max;
  return Math.min(max, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
}

/** One request and its response: the controller handed to the handler. */
class Exchange implements ExchangeController {
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

/** One keep-alive connection; its listeners are attached once and serve every exchange it carries. */
class Connection implements ResponseSink {
  readonly parser = new ResponseParser(this);
  exchange: Exchange | undefined;
  connected = false;
  closed = false;
  reused = false;
  parkedAt = 0;
  idleLimitMs: number;
  private lastError: Error | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly pool: OriginPool,
    readonly socket: Socket | TLSSocket,
    connectTimeoutMs: number,
  ) {
    this.idleLimitMs = pool.keepAliveMs;
    this.connectTimer = setTimeout(() => {
      this.lastError = new UpstreamError('QCC_CONNECT_TIMEOUT', `could not connect to ${pool.origin} within ${connectTimeoutMs} ms`, true);
      this.socket.destroy();
    }, connectTimeoutMs);
    socket.once(pool.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error) => {
      this.lastError ??= err;
    });
    socket.on('close', () => this.onClose());
  }

  /** Write a request; for a new connection Node queues the bytes until it is established. */
  start(ex: Exchange): void {
    this.exchange = ex;
    ex.connection = this;
    this.parser.expect(ex.request.method === 'HEAD');
    const { socket } = this;
    socket.cork();
    socket.write(ex.head, 'latin1');
    if (ex.request.body !== null && ex.request.body.length > 0) socket.write(ex.request.body);
    socket.uncork();
    if (this.connected) ex.sent();
  }

  /** An exchange gave up on this connection mid-response: it can never carry another. */
  drop(ex: Exchange): void {
    if (this.exchange === ex) this.exchange = undefined;
    this.parser.abandon();
    this.closed = true;
    this.socket.destroy();
  }

  onHead(status: number, headers: IncomingHttpHeaders): void {
    this.idleLimitMs = keepAliveLimit(headers['keep-alive'], this.pool.keepAliveMs);
    this.exchange?.responseStart(status, headers);
  }

  onBody(chunk: Buffer): void {
    this.exchange?.responseData(chunk);
  }

  onComplete(reusable: boolean): void {
    const ex = this.exchange;
    this.exchange = undefined;
    // Parked before the handler hears of the end, so a request it starts from there can reuse the connection.
    // Not if part of the request is still unsent (an upstream that answered early): those bytes would be read
    // as the start of the next request.
    if (reusable && !this.closed && this.idleLimitMs > 0 && this.socket.writableLength === 0) this.pool.park(this);
    else this.close();
    ex?.responseEnd();
  }

  close(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    this.exchange?.sent();
  }

  private onData(chunk: Buffer): void {
    const ex = this.exchange;
    if (ex === undefined) {
      // Bytes while idle: the upstream is out of step with us; this connection is done.
      this.close();
      return;
    }
    ex.responded = true;
    try {
      this.parser.execute(chunk);
    } catch (e: unknown) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (this.exchange === ex) ex.fail(err);
      else this.close(); // the response had completed; only the bytes after it were wrong
      return;
    }
    if (this.exchange === ex) ex.readParsed();
  }

  private onEnd(): void {
    // A close-delimited body is complete at the end of the connection.
    if (this.exchange !== undefined) this.parser.finishAtEof();
  }

  private onClose(): void {
    clearTimeout(this.connectTimer);
    this.closed = true;
    this.pool.forget(this);
    const ex = this.exchange;
    if (ex === undefined) return;
    this.exchange = undefined;
    if (!this.connected) {
      const err = this.lastError ?? new UpstreamError('QCC_UPSTREAM_CLOSED', `connection to ${this.pool.origin} closed before it was established`);
      ex.fail(err instanceof UpstreamError ? err : Object.assign(err, { beforeWrite: true }));
      return;
    }
    // A reused connection that the upstream had already closed (its keep-alive ran out as we wrote): the
    // request never reached it, so it is sent once more on a fresh connection rather than reported as a failure.
    if (this.reused && !ex.responded && !ex.done) {
      ex.connection = undefined;
      this.pool.open(ex);
      return;
    }
    ex.fail(this.lastError ?? new UpstreamError('QCC_UPSTREAM_CLOSED', `${this.pool.origin} closed the connection before the response was complete`));
  }
}

/** The connections to one origin. Idle ones are reused most-recent first (their TCP and TLS state is warm). */
class OriginPool {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  private readonly idle: Connection[] = [];
  /** Every open connection, in use or idle. */
  readonly connections = new Set<Connection>();
  private tlsSession: Buffer | undefined;

  constructor(
    readonly origin: string,
    readonly keepAliveMs: number,
    private readonly connectTimeoutMs: number,
    private readonly ca: string | Buffer | undefined,
  ) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamError('QCC_BAD_REQUEST', `unsupported protocol ${url.protocol}`, true);
    this.tls = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : this.tls ? 443 : 80;
    this.hostHeader = url.host;
  }

  get size(): number {
    return this.connections.size;
  }

  send(ex: Exchange): void {
    const now = Date.now();
    for (let conn = this.idle.pop(); conn !== undefined; conn = this.idle.pop()) {
      if (conn.closed || now - conn.parkedAt >= conn.idleLimitMs) {
        conn.close();
        continue;
      }
      conn.reused = true;
      conn.socket.ref();
      conn.start(ex);
      return;
    }
    this.open(ex);
  }

  open(ex: Exchange): void {
    const socket = this.tls
      ? tlsConnect({
          host: this.host,
          port: this.port,
          servername: isIP(this.host) ? undefined : this.host,
          ALPNProtocols: ['http/1.1'],
          ...(this.tlsSession && { session: this.tlsSession }),
          ...(this.ca !== undefined && { ca: this.ca }),
        })
      : netConnect({ host: this.host, port: this.port, noDelay: true });
    // TCP keep-alive probes on long quiet streams, so a dead peer or a NAT that forgot the flow is noticed.
    socket.setKeepAlive(true, 60_000);
    if (this.tls) {
      socket.setNoDelay(true);
      socket.on('session', (session: Buffer) => {
        this.tlsSession = session;
      });
    }
    const conn = new Connection(this, socket, this.connectTimeoutMs);
    this.connections.add(conn);
    conn.start(ex);
  }

  park(conn: Connection): void {
    conn.parkedAt = Date.now();
    // An idle connection must not keep the process alive.
    conn.socket.unref();
    this.idle.push(conn);
  }

  forget(conn: Connection): void {
    this.connections.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  sweep(now: number): void {
    for (const conn of [...this.idle]) if (now - conn.parkedAt >= conn.idleLimitMs) conn.close();
  }

  closeIdle(): void {
    for (const conn of this.idle.splice(0)) conn.close();
  }

  destroyAll(): void {
    for (const conn of [...this.connections]) {
      const ex = conn.exchange;
      if (ex) ex.fail(new UpstreamError('QCC_CLIENT_CLOSED', 'the upstream client was closed'));
      else conn.close();
    }
  }
}

export class UpstreamClient implements Upstream {
  private readonly pools = new Map<string, OriginPool>();
  private readonly connectTimeoutMs: number;
  private readonly keepAliveMs: number;
  private readonly ca: string | Buffer | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(opts: UpstreamClientOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.keepAliveMs = opts.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.ca = opts.ca;
  }

  dispatch(request: UpstreamRequest, handler: ExchangeHandler): boolean {
    let pool = this.pools.get(request.origin);
    let head: string;
    try {
      if (this.closing) throw new UpstreamError('QCC_CLIENT_CLOSED', 'the upstream client is closed', true);
      if (pool === undefined) {
        pool = new OriginPool(request.origin, this.keepAliveMs, this.connectTimeoutMs, this.ca);
        this.pools.set(request.origin, pool);
        this.startSweeper();
      }
      head = requestHead(request, pool.hostHeader);
    } catch (e: unknown) {
      const err = e instanceof Error ? e : new Error(String(e));
      const ex = new Exchange(request, '', handler);
      handler.onRequestStart?.(ex, {});
      ex.fail(err);
      return true;
    }
    const ex = new Exchange(request, head, handler);
    handler.onRequestStart?.(ex, {});
    if (!ex.done) pool.send(ex);
    return true;
  }

  /** Connections currently open (in use or idle) per origin: for tests and diagnostics. */
  connectionCount(origin: string): number {
    return this.pools.get(origin)?.size ?? 0;
  }

  /** Stop taking requests, close idle connections, and wait for the ones in use to finish. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopSweeper();
    for (const pool of this.pools.values()) pool.closeIdle();
    while ([...this.pools.values()].some((p) => p.size > 0)) {
      for (const pool of this.pools.values()) pool.closeIdle();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop at once: requests in flight fail. */
  async destroy(): Promise<void> {
    this.closing = true;
    this.stopSweeper();
    for (const pool of this.pools.values()) {
      pool.closeIdle();
      pool.destroyAll();
    }
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const pool of this.pools.values()) pool.sweep(now);
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
