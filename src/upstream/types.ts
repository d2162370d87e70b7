import type { IncomingHttpHeaders } from 'node:http';
import type { ResponseHeaders } from './response-headers.js';
import type { ProxySpec } from '../shared/proxy-url.js';

/** The shapes shared by the upstream client's parts and its callers (see client.ts). */

export type HeaderMap = Record<string, string | string[]>;

/** How the origin is reached: directly, or through an outbound proxy (see tunnel.ts). */
export interface Route {
  /** Tunnel through this proxy; undefined: connect directly. */
  readonly proxy: ProxySpec | undefined;
  /** Set when the route cannot be used (e.g. an invalid proxy variable): requests fail with it before anything is sent. */
  readonly problem?: string | undefined;
}

export interface UpstreamRequest {
  /** `http://host:port` or `https://host:port`. */
  origin: string;
  /** Direct when absent. */
  route?: Route | undefined;
  path: string;
  method: string;
  headers: HeaderMap;
  /**
   * Header lines written before `headers`, as they are: each preceded by CRLF, already valid, none of the ones
   * the client frames itself (host, content-length, connection and the like). A proxied request's own lines.
   */
  headerLines?: string;
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

/** Modelled on undici's DispatchHandler; the response's headers are the lines as received (ResponseHeaders). */
export interface ExchangeHandler {
  onRequestStart?(controller: ExchangeController, context: unknown): void;
  onResponseStart?(controller: ExchangeController, statusCode: number, headers: ResponseHeaders): void;
  onResponseData?(controller: ExchangeController, chunk: Buffer): void;
  onResponseEnd?(controller: ExchangeController, trailers: IncomingHttpHeaders): void;
  onResponseError?(controller: ExchangeController, error: Error): void;
}

/** What the forwarding code and the health checks need from a client (undici's `dispatch` shape). */
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
  | 'QCC_CLIENT_CLOSED'
  | 'QCC_PROXY_UNREACHABLE' // the outbound proxy could not be reached
  | 'QCC_PROXY_AUTH' // it wants credentials, or rejected them (407, SOCKS5 auth)
  | 'QCC_PROXY_REFUSED' // it would not open the tunnel (CONNECT 403/502, a SOCKS5 reply code)
  | 'QCC_PROXY_PROTOCOL' // it answered something that is not its protocol
  | 'QCC_PROXY_DNS' // socks5:// could not resolve the endpoint's name locally
  | 'QCC_PROXY_INVALID'; // the route itself is unusable (an invalid proxy URL)

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
