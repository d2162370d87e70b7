import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { joinHeadAndBody, JOIN_BODY_BYTES } from '../server/join.js';
import type { Exchange } from './exchange.js';
import { ResponseParser, type ResponseSink } from './response-parser.js';
import type { ResponseHeaders } from './response-headers.js';
import type { ProxySpec } from '../shared/proxy-url.js';
import { openTunnel } from './tunnel.js';
import { UpstreamError } from './types.js';

/** Give up an idle connection this long before the upstream said it would close it, so the two never cross. */
const KEEP_ALIVE_MARGIN_MS = 1_000;

/**
 * The one buffer every plain-TCP upstream socket reads into (Node's `onread`). Without it Node allocates 64 KB for
 * each read, shrinks it to what arrived and wraps it in a fresh Buffer pushed through a Readable stream; here a
 * read's bytes are copied out at once into a Buffer of their own size (the parser and the client's socket keep
 * them), which costs less than that for every read. One buffer serves them all because the callback runs
 * synchronously right after each read, and nothing is left in it once the callback returns.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** `Keep-Alive: timeout=5` → how long qcc may keep the connection idle, in ms. */
function keepAliveLimit(value: string | undefined, max: number): number {
  if (value === undefined) return max;
  const m = /timeout\s*=\s*(\d+)/i.exec(value);
  if (!m) return max;
  return Math.min(max, Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
}

/** One keep-alive connection; its listeners are attached once and serve every exchange it carries. */
export class Connection implements ResponseSink {
  readonly parser = new ResponseParser(this);
  exchange: Exchange | undefined;
  connected = false;
  closed = false;
  reused = false;
  /**
   * The current request has been handed to the kernel in full (its write completed). Until then a connection
   * that closes has provably not delivered it; after, the endpoint may have read it and begun generating.
   */
  private requestWritten = false;
  parkedAt = 0;
  idleLimitMs: number;
  private lastError: Error | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  /**
   * `state`: a new socket (`'handshake'`: 'connect', or 'secureConnect' for TLS, is awaited under the connect
   * timeout), or one that is already open — a plain tunnel through a proxy — read with `onread` (readInto) or
   * through 'data' events (a tunnel over a TLS proxy).
   */
  constructor(
    readonly pool: OriginPool,
    readonly socket: Socket | TLSSocket,
    connectTimeoutMs: number,
    state: 'handshake' | 'open, onread' | 'open, data events' = 'handshake',
  ) {
    this.idleLimitMs = pool.keepAliveMs;
    if (state !== 'handshake') {
      this.connected = true;
    } else {
      this.connectTimer = setTimeout(() => {
        this.lastError = new UpstreamError('QCC_CONNECT_TIMEOUT', `could not connect to ${pool.origin}${pool.via} within ${connectTimeoutMs} ms`, true);
        this.socket.destroy();
      }, connectTimeoutMs);
      socket.once(pool.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    }
    // Plain sockets were opened with `onread` (readInto); TLS sockets' bytes (and a TLS proxy's tunnel's) come as 'data'.
    if (pool.tls || state === 'open, data events') socket.on('data', (chunk: Buffer) => this.onData(chunk));
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
    const body = ex.request.body;
    // Only a reused connection can meet the race that makes a re-send safe (see onClose), so only there is the
    // write's completion watched.
    this.requestWritten = false;
    const written = this.reused ? this.onRequestWritten : undefined;
    if (body === null || body.length === 0) {
      socket.write(ex.head, 'latin1', written);
    } else if (body.length <= JOIN_BODY_BYTES) {
      socket.write(joinHeadAndBody(ex.head, body), written);
    } else {
      socket.cork();
      socket.write(ex.head, 'latin1');
      socket.write(body, written);
      socket.uncork();
    }
    if (this.connected) ex.sent();
  }

  /** An exchange gave up on this connection mid-response: it can never carry another. */
  drop(ex: Exchange): void {
    if (this.exchange === ex) this.exchange = undefined;
    this.parser.abandon();
    this.closed = true;
    this.socket.destroy();
  }

  onHead(status: number, headers: ResponseHeaders): void {
    this.idleLimitMs = keepAliveLimit(headers.get('keep-alive'), this.pool.keepAliveMs);
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

  /** `onread`: `n` bytes arrived in the shared READ_BUFFER, which the next read overwrites. */
  readInto(n: number): true {
    const chunk = Buffer.allocUnsafe(n);
    READ_BUFFER.copy(chunk, 0, 0, n);
    this.onData(chunk);
    return true; // keep reading (a paused exchange pauses the socket itself)
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

  private readonly onRequestWritten = (err?: Error | null): void => {
    if (!err) this.requestWritten = true;
  };

  private onEnd(): void {
    // Idle: the endpoint closed it (its keep-alive ran out); never hand it another request.
    if (this.exchange === undefined) return this.close();
    // A close-delimited body is complete at the end of the connection.
    this.parser.finishAtEof();
  }

  private onClose(): void {
    clearTimeout(this.connectTimer);
    this.closed = true;
    this.pool.forget(this);
    const ex = this.exchange;
    if (ex === undefined) return;
    this.exchange = undefined;
    if (!this.connected) {
      const err = this.lastError ?? new UpstreamError('QCC_UPSTREAM_CLOSED', `connection to ${this.pool.origin}${this.pool.via} closed before it was established`, true);
      if (err instanceof UpstreamError) return ex.fail(err);
      // A TLS failure over a tunnel says which proxy carried it; the code (a certificate error, say) is kept.
      if (this.pool.via !== '') err.message = `${this.pool.origin}${this.pool.via}: ${err.message}`;
      ex.fail(Object.assign(err, { beforeWrite: true }));
      return;
    }
    // A reused connection that closed before the request was even handed to the kernel (the endpoint's keep-alive
    // ran out as we wrote): provably never delivered, so it is sent once more on a fresh connection, silently.
    // Once written, the endpoint may have read it and started a generation the user pays for: then it is a
    // failure like any other (a reset), which the proxy's failover rules, retry budget and request log see.
    if (this.reused && !ex.responded && !ex.done && !this.requestWritten) {
      ex.connection = undefined;
      this.pool.open(ex);
      return;
    }
    ex.fail(this.lastError ?? new UpstreamError('QCC_UPSTREAM_CLOSED', `${this.pool.origin} closed the connection before the response was complete`));
  }
}

/**
 * The connections to one origin, directly or through one proxy. Idle ones are reused most-recent first (their
 * TCP and TLS state is warm); a tunnelled connection is kept and reused like a direct one, so a proxy costs its
 * handshake once per connection, not once per request.
 */
export class OriginPool {
  readonly tls: boolean;
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  /** ` via PROXY` (masked) for messages, or `""` for a direct pool. */
  readonly via: string;
  private readonly idle: Connection[] = [];
  /** Every open connection, in use or idle. */
  readonly connections = new Set<Connection>();
  /** Exchanges waiting for a tunnel to be opened for them. */
  private readonly tunnelling = new Set<Exchange>();
  private tlsSession: Buffer | undefined;

  constructor(
    readonly origin: string,
    readonly keepAliveMs: number,
    private readonly connectTimeoutMs: number,
    private readonly ca: string | Buffer | undefined,
    private readonly proxy: ProxySpec | undefined = undefined,
  ) {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UpstreamError('QCC_BAD_REQUEST', `unsupported protocol ${url.protocol}`, true);
    this.tls = url.protocol === 'https:';
    this.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.port = url.port ? Number(url.port) : this.tls ? 443 : 80;
    this.hostHeader = url.host;
    this.via = proxy === undefined ? '' : ` via ${proxy.masked}`;
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
    if (this.proxy !== undefined) return this.openTunnelled(ex, this.proxy);
    const socket = this.tls
      ? this.tlsTo()
      : netConnect({
          host: this.host,
          port: this.port,
          noDelay: true,
          onread: { buffer: READ_BUFFER, callback: (n: number) => conn.readInto(n) },
        });
    // TCP keep-alive probes on long quiet streams, so a dead peer or a NAT that forgot the flow is noticed.
    socket.setKeepAlive(true, 60_000);
    if (this.tls) socket.setNoDelay(true);
    // Assigned before the socket can read (connecting takes at least a turn of the event loop).
    const conn: Connection = new Connection(this, socket, this.connectTimeoutMs);
    this.connections.add(conn);
    conn.start(ex);
  }

  /** TLS to the endpoint, over `socket` (a tunnel) or a TCP connection of its own; SNI and checks are the endpoint's. */
  private tlsTo(socket?: Socket): TLSSocket {
    const tls = tlsConnect({
      host: this.host,
      port: this.port,
      servername: isIP(this.host) ? undefined : this.host,
      ALPNProtocols: ['http/1.1'],
      ...(socket !== undefined && { socket }),
      ...(this.tlsSession && { session: this.tlsSession }),
      ...(this.ca !== undefined && { ca: this.ca }),
    });
    tls.on('session', (session: Buffer) => {
      this.tlsSession = session;
    });
    return tls;
  }

  /**
   * A new connection through the proxy: the tunnel first (under the connect timeout), then, for https, the
   * endpoint's TLS over it. An exchange that ends while its tunnel opens (the client left) leaves the tunnel
   * to be closed; nothing was sent on it.
   */
  private openTunnelled(ex: Exchange, proxy: ProxySpec): void {
    this.tunnelling.add(ex);
    // A plain endpoint's tunnel reads into the shared buffer, as a direct plain connection does (see tunnel.ts).
    const readBuffer = this.tls ? undefined : READ_BUFFER;
    openTunnel(proxy, this.host, this.port, { timeoutMs: this.connectTimeoutMs, ca: this.ca, readBuffer }).then(
      (tunnel) => {
        this.tunnelling.delete(ex);
        if (ex.done) return void tunnel.socket.destroy();
        tunnel.socket.setKeepAlive(true, 60_000);
        const socket = this.tls ? this.tlsTo(tunnel.socket as Socket) : tunnel.socket;
        const conn = new Connection(this, socket, this.connectTimeoutMs, this.tls ? 'handshake' : proxy.scheme === 'https' ? 'open, data events' : 'open, onread');
        if (!this.tls && proxy.scheme !== 'https') tunnel.attach((n) => conn.readInto(n));
        this.connections.add(conn);
        conn.start(ex);
      },
      (err: unknown) => {
        this.tunnelling.delete(ex);
        ex.fail(err instanceof Error ? err : new UpstreamError('QCC_PROXY_PROTOCOL', String(err), true));
      },
    );
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
    for (const ex of [...this.tunnelling]) ex.fail(new UpstreamError('QCC_CLIENT_CLOSED', 'the upstream client was closed', true));
    for (const conn of [...this.connections]) {
      const ex = conn.exchange;
      if (ex) ex.fail(new UpstreamError('QCC_CLIENT_CLOSED', 'the upstream client was closed'));
      else conn.close();
    }
  }
}
