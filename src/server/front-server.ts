import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { FrontConnection, type ConnectionHost, type FrontRequest } from './connection.js';
import type { FrontResponse } from './response.js';

/**
 * qcc's listening socket. The API's own requests (`POST /v1/…`, HTTP/1.1, Content-Length bodies: everything
 * Claude Code and the SDKs send) are read and answered here, on the socket, without Node's HTTP server: on this
 * path Node's request and response objects, its header bookkeeping and its stream machinery were most of the
 * CPU a proxied request cost (bench/NOTES.md). Every other request — the dashboard, the admin API, /metrics,
 * and any request outside the strict grammar of request-head.ts — is handed, with its connection, to Node's
 * HTTP server, which stays the authority on everything unusual: malformed input, chunked or
 * `Expect: 100-continue` uploads, HTTP/1.0, upgrades, oversized heads or bodies.
 */
export interface FrontServerOptions {
  /** Node's HTTP server for everything the front server does not answer; it never listens itself. */
  fallback: HttpServer;
  /** A request on the fast path: the body is collected by the server (req.body). */
  onRequest(req: FrontRequest, res: FrontResponse): void;
  /** Larger bodies go to Node's server (and its answer, a 413). */
  maxBodyBytes(): number;
  /** Idle keep-alive connections are closed after this long (Node's keepAliveTimeout). */
  keepAliveMs: number;
  /** A request head must be complete this long after it began (Node's headersTimeout): else 408. */
  headersTimeoutMs: number;
  /** How often idle and slow connections are looked for. */
  sweepMs?: number;
  /** A request body must keep arriving (no silence longer than this) and be complete within the total. */
  bodyIdleTimeoutMs?: () => number;
  bodyTimeoutMs?: () => number;
  /** Request body bytes held across all connections at once (declared lengths, from head to response end). */
  maxBufferedBodyBytes?: () => number;
}

const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_BODY_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_BUFFERED_BODY_BYTES = 256 * 1024 * 1024;

export class FrontServer implements ConnectionHost {
  readonly server: NetServer;
  readonly keepAliveSeconds: number;
  closing = false;
  private readonly connections = new Set<FrontConnection>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Request body bytes held now (see maxBufferedBodyBytes). */
  bufferedBodyBytes = 0;

  constructor(private readonly options: FrontServerOptions) {
    this.keepAliveSeconds = Math.floor(options.keepAliveMs / 1000);
    // allowHalfOpen as in Node's HTTP server: a client that half-closes after its request still gets the answer.
    this.server = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      this.connections.add(new FrontConnection(socket, this));
    });
    // Node's HTTP server tracks its connections (headersTimeout, closeIdleConnections) from its 'listening'
    // event; it never listens itself, so it is told here.
    options.fallback.emit('listening');
    this.server.on('listening', () => {
      this.sweeper = setInterval(() => this.sweep(), options.sweepMs ?? 1000).unref();
    });
    this.server.on('close', () => {
      clearInterval(this.sweeper);
      options.fallback.close();
    });
  }

  maxBodyBytes(): number {
    return this.options.maxBodyBytes();
  }

  reserveBody(bytes: number): boolean {
    // A request whose body alone passes the cap is still admitted when nothing else is held: the cap bounds the
    // total across clients, max_body_bytes bounds one.
    if (bytes > 0 && this.bufferedBodyBytes > 0 && this.bufferedBodyBytes + bytes > (this.options.maxBufferedBodyBytes?.() ?? DEFAULT_MAX_BUFFERED_BODY_BYTES)) return false;
    this.bufferedBodyBytes += bytes;
    return true;
  }

  releaseBody(bytes: number): void {
    this.bufferedBodyBytes -= bytes;
  }

  serve(req: FrontRequest, res: FrontResponse): void {
    this.options.onRequest(req, res);
  }

  handOff(socket: Socket, unread: Buffer | undefined): void {
    socket.pause();
    if (unread !== undefined) socket.unshift(unread);
    this.options.fallback.emit('connection', socket);
    socket.resume();
  }

  forget(conn: FrontConnection): void {
    this.connections.delete(conn);
  }

  /** Stop accepting; connections close once idle (see closeIdleConnections) or after their current response. */
  close(callback?: (err?: Error) => void): void {
    this.closing = true;
    this.server.close(callback);
    this.closeIdleConnections();
  }

  closeIdleConnections(): void {
    for (const conn of this.connections) conn.closeIdle();
    this.options.fallback.closeIdleConnections();
  }

  private sweep(): void {
    const now = performance.now();
    const bodyIdle = this.options.bodyIdleTimeoutMs?.() ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
    const bodyTotal = this.options.bodyTimeoutMs?.() ?? DEFAULT_BODY_TIMEOUT_MS;
    for (const conn of this.connections) {
      const bodyStarted = conn.bodyStartedAt;
      if (bodyStarted >= 0) {
        const idle = now - conn.bodyLastDataAt > bodyIdle;
        if (idle || now - bodyStarted > bodyTotal) conn.bodyTimedOut(idle);
      } else if (conn.headStartedAt >= 0) {
        if (now - conn.headStartedAt > this.options.headersTimeoutMs) conn.headersTimedOut();
      } else if (conn.idle && conn.idleSince >= 0 && now - conn.idleSince > this.options.keepAliveMs) {
        conn.closeIdle();
      }
    }
  }
}
