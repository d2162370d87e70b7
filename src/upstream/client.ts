import { OriginPool } from './connection.js';
import { Deadlines } from './deadlines.js';
import { Exchange } from './exchange.js';
import { requestHead } from './request-head.js';
import { UpstreamError, type ExchangeHandler, type Route, type Upstream, type UpstreamRequest } from './types.js';

export type { ExchangeController, ExchangeHandler, HeaderMap, Route, Upstream, UpstreamErrorCode, UpstreamRequest } from './types.js';
export { UpstreamError } from './types.js';

/**
 * The HTTP/1.1 client that carries every proxied request to its endpoint: keep-alive connections per origin,
 * plain or TLS, one request per connection at a time.
 *
 * Written by hand instead of using undici because it is the hot path — it runs for every request and every
 * streamed read — and undici's general machinery (dispatcher chain, handler adapters, header validation and
 * body plumbing for every kind of body, per-HTTP-chunk callbacks) was the largest share of qcc's own CPU per
 * request (see bench/NOTES.md). It does only what forwarding a buffered request needs. The interface is
 * modelled on undici's `dispatch(options, handler)` with its controller, except that a response's headers
 * come as ResponseHeaders (the lines as received) rather than an object. Health checks use it too (request.ts), so a check takes the path a request takes; undici remains
 * for the CLI's calls to a running proxy.
 *
 * The parts: types.ts (the interface), request-head.ts (what is written), exchange.ts (one request: clocks,
 * controller), connection.ts (one socket and the pool per origin), response-parser.ts (what is read),
 * tunnel.ts (the way through an HTTP or SOCKS5 proxy, when a request's route names one).
 */

export interface UpstreamClientOptions {
  connectTimeoutMs?: number;
  /** Longest an idle connection is kept; shorter when the upstream announces `Keep-Alive: timeout=N`. */
  keepAliveMs?: number;
  /** Trust these roots for TLS instead of Node's (a relay behind a private CA; tests). */
  ca?: string | Buffer;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_KEEP_ALIVE_MS = 30_000;
const SWEEP_INTERVAL_MS = 1_000;

export class UpstreamClient implements Upstream {
  /** Direct connections, per origin. */
  private readonly pools = new Map<string, OriginPool>();
  /** Tunnelled connections, per proxy (its full URL, credentials included) and then per origin. */
  private readonly routed = new Map<string, Map<string, OriginPool>>();
  /** Every exchange's first-byte and idle clock. */
  private readonly clocks = new Deadlines();
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
    const proxy = request.route?.proxy;
    const pools = proxy === undefined ? this.pools : this.poolsVia(proxy.key);
    let pool = pools.get(request.origin);
    let head: string;
    try {
      if (this.closing) throw new UpstreamError('QCC_CLIENT_CLOSED', 'the upstream client is closed', true);
      const problem = request.route?.problem;
      if (problem !== undefined) throw new UpstreamError('QCC_PROXY_INVALID', problem, true);
      if (pool === undefined) {
        pool = new OriginPool(request.origin, this.keepAliveMs, this.connectTimeoutMs, this.ca, proxy);
        pools.set(request.origin, pool);
        this.startSweeper();
      }
      head = requestHead(request, pool.hostHeader);
    } catch (e: unknown) {
      const err = e instanceof Error ? e : new Error(String(e));
      const ex = new Exchange(request, '', handler, this.clocks);
      handler.onRequestStart?.(ex, {});
      ex.fail(err);
      return true;
    }
    const ex = new Exchange(request, head, handler, this.clocks);
    handler.onRequestStart?.(ex, {});
    if (!ex.done) pool.send(ex);
    return true;
  }

  private poolsVia(proxyKey: string): Map<string, OriginPool> {
    let pools = this.routed.get(proxyKey);
    if (pools === undefined) {
      pools = new Map();
      this.routed.set(proxyKey, pools);
    }
    return pools;
  }

  /** Every pool, direct and tunnelled. */
  private allPools(): OriginPool[] {
    const all = [...this.pools.values()];
    for (const pools of this.routed.values()) all.push(...pools.values());
    return all;
  }

  /** Connections currently open (in use or idle) per origin, directly or through `route`: for tests and diagnostics. */
  connectionCount(origin: string, route?: Route): number {
    const proxy = route?.proxy;
    const pools = proxy === undefined ? this.pools : this.routed.get(proxy.key);
    return pools?.get(origin)?.size ?? 0;
  }

  /** Stop taking requests, close idle connections, and wait for the ones in use to finish. */
  async close(): Promise<void> {
    this.closing = true;
    this.stopSweeper();
    for (const pool of this.allPools()) pool.closeIdle();
    while (this.allPools().some((p) => p.size > 0)) {
      for (const pool of this.allPools()) pool.closeIdle();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stop at once: requests in flight fail. */
  async destroy(): Promise<void> {
    this.closing = true;
    this.stopSweeper();
    for (const pool of this.allPools()) {
      pool.closeIdle();
      pool.destroyAll();
    }
  }

  private startSweeper(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const pool of this.pools.values()) pool.sweep(now);
      for (const pools of this.routed.values()) for (const pool of pools.values()) pool.sweep(now);
    }, SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  private stopSweeper(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}
