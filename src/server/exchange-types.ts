import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { RequestLines } from './request-lines.js';

/**
 * The shapes of a client exchange that the servers provide and the proxy uses (proxy/client.ts): a request read
 * by qcc's front server, and a response either server can write. They live with the servers, which know nothing
 * of the proxy above them.
 */

/** A request whose body the server collects itself (qcc's front server): no stream to read. */
export interface BufferedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The same header lines as sent (qcc's front server read and validated them): looked up by name and passed on
   * as text, so that `headers` is made only if something asks for it (see clientHeader).
   */
  readonly lines?: RequestLines;
  /** The declared length, already checked against the proxy's limit. */
  readonly contentLength: number;
  /** The whole body; rejects if the client leaves before sending all of it. */
  readonly body: Promise<Buffer>;
  /** The whole body when it was already there with the head (the usual case): no promise to wait on. */
  readonly bodyNow?: Buffer | undefined;
}

/** An upstream response's header lines to pass on as they came, the hop-by-hop ones taken out. */
export interface ForwardedLines {
  /** Each line preceded by CRLF, latin1; validated by the upstream response parser. */
  readonly text: string;
  /** Their Content-Length, if they have one. */
  readonly contentLength: string | undefined;
  /** Whether they include a Date. */
  readonly date: boolean;
}

export interface ClientResponse {
  /** True once the status and headers are fixed (writeHead was called). */
  readonly headersSent: boolean;
  /** True once the whole response has been handed to the connection. */
  readonly writableFinished: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): this;
  /**
   * The same with an upstream's header lines passed on as text (the front server's response can; Node's has no
   * such method and is given an object instead: see forwardHead in headers.ts).
   */
  writeForwardedHead?(status: number, lines: ForwardedLines, headers: OutgoingHttpHeaders): this;
  setHeader(name: string, value: string): this;
  /** False when the connection's buffer is full: wait for 'drain'. */
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): this;
  /** Cut the connection (nothing more can be said in the protocol). */
  destroy(): this;
  /** 'close': the response is over, finished or not (check writableFinished); 'drain': write more. */
  on(event: 'close' | 'drain', listener: () => void): this;
  once(event: 'close' | 'drain', listener: () => void): this;
  off(event: 'close' | 'drain', listener: () => void): this;
}

