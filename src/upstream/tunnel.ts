import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { SocksClient } from 'socks';
import type { ProxySpec } from '../shared/proxy-url.js';
import { UpstreamError } from './types.js';
import { ERRNO_TEXT } from '../shared/errno-text.js';

/**
 * A byte stream to `host:port` through an outbound proxy: an HTTP(S) proxy's `CONNECT` (written here: a request
 * line and one response head), or SOCKS5 through the `socks` library. The endpoint's own TLS, if any, is laid
 * over the returned socket by the caller, so its SNI and certificate check are the endpoint's, not the proxy's.
 *
 * Every failure is an UpstreamError marked `beforeWrite`: the request never left qcc, so another endpoint is
 * safe to try. Messages name the proxy (masked) and the cause, never a bare errno.
 */

export interface TunnelOptions {
  timeoutMs: number;
  /** Roots for an `https://` proxy's certificate (Node's when undefined). */
  ca?: string | Buffer | undefined;
  /**
   * Read the open tunnel into this shared buffer (`onread`), as qcc's direct plain connections do, instead of
   * through 'data' events that allocate 64 KB per read: a plain tunnel then costs per read what a direct
   * connection does. Only for a plain (`http://`, `socks5`) proxy whose tunnel carries plain HTTP; the caller
   * must then `attach` its reader. TLS sockets always read through 'data'.
   */
  readBuffer?: Buffer | undefined;
}

/** An open tunnel. With `readBuffer`, its reads go to whatever `attach` names (nothing is read until then). */
export interface Tunnel {
  socket: Socket | TLSSocket;
  attach(reader: (n: number) => void): void;
}

/**
 * The handshake's view of a socket read with `onread`: a Duplex that the CONNECT code and the `socks` library
 * talk to, fed with copies of what the socket reads and writing through to it. Dropped once the tunnel is open.
 */
class HandshakeStream extends Duplex {
  constructor(private readonly socket: Socket | TLSSocket) {
    super();
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.socket.write(chunk, done);
  }

  // The socks library enables this on sockets it made itself; on ours it is a no-op.
  setNoDelay(): this {
    return this;
  }
}

/** The longest CONNECT response head read, as llhttp's default header limit. */
const MAX_CONNECT_HEAD = 16 * 1024;

const SOCKS5_REPLIES: Record<string, string> = {
  Failure: '1, general SOCKS server failure',
  NotAllowed: '2, connection not allowed by ruleset',
  NetworkUnreachable: '3, network unreachable',
  HostUnreachable: '4, host unreachable',
  ConnectionRefused: '5, connection refused',
  TTLExpired: '6, TTL expired',
  CommandNotSupported: '7, command not supported',
  AddressNotSupported: '8, address type not supported',
};

function proxyError(code: string, message: string): UpstreamError {
  return new UpstreamError(code, message, true);
}

export function authority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function openTunnel(proxy: ProxySpec, host: string, port: number, opts: TunnelOptions): Promise<Tunnel> {
  const deadline = Date.now() + opts.timeoutMs;
  const target = authority(host, port);
  const readBuffer = proxy.scheme === 'https' ? undefined : opts.readBuffer;
  // Until the tunnel is open, what the socket reads (into readBuffer) is copied to the handshake.
  let reader: (n: number) => void = (n) => handshake?.push(Buffer.from(readBuffer!.subarray(0, n)));
  let handshake: HandshakeStream | undefined;
  const socket = await reachProxy(proxy, opts, readBuffer && { buffer: readBuffer, callback: (n: number) => (reader(n), true) });
  let stream: Duplex = socket;
  const forwardError = (err: Error) => handshake?.destroy(err);
  const forwardClose = () => handshake?.destroy();
  if (readBuffer !== undefined) {
    handshake = new HandshakeStream(socket);
    socket.on('error', forwardError);
    socket.on('close', forwardClose);
    stream = handshake;
  }
  try {
    const left = Math.max(1, deadline - Date.now());
    if (proxy.scheme === 'http' || proxy.scheme === 'https') await httpConnect(stream, proxy, target, left);
    else await socksConnect(stream, proxy, host, port, left);
  } catch (e: unknown) {
    socket.destroy();
    throw e;
  } finally {
    socket.off('error', forwardError);
    socket.off('close', forwardClose);
    handshake = undefined;
  }
  // Nothing may arrive before the request is written: a read now would be the proxy or endpoint out of step.
  reader = () => socket.destroy(proxyError('QCC_PROXY_PROTOCOL', `proxy ${proxy.masked} sent bytes on the tunnel before the request`));
  return {
    socket,
    attach: (next) => {
      reader = next;
    },
  };
}

/** TCP (or TLS, for an `https://` proxy) to the proxy itself; connection errors name the proxy. */
function reachProxy(proxy: ProxySpec, opts: TunnelOptions, onread: { buffer: Buffer; callback: (n: number) => boolean } | undefined): Promise<Socket | TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = proxy.scheme === 'https';
    const socket: Socket | TLSSocket = tls
      ? tlsConnect({
          host: proxy.host,
          port: proxy.port,
          servername: isIP(proxy.host) ? undefined : proxy.host,
          ALPNProtocols: ['http/1.1'],
          ...(opts.ca !== undefined && { ca: opts.ca }),
        })
      : netConnect({ host: proxy.host, port: proxy.port, noDelay: true, ...(onread && { onread }) });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(proxyError('QCC_CONNECT_TIMEOUT', `could not reach proxy ${proxy.masked} within ${opts.timeoutMs} ms`));
    }, opts.timeoutMs);
    const onReady = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err: NodeJS.ErrnoException) => {
      cleanup();
      socket.destroy();
      const what = tls && err.code !== 'ECONNREFUSED' && err.code !== 'ENOTFOUND' ? 'TLS to proxy' : 'could not reach proxy';
      reject(proxyError('QCC_PROXY_UNREACHABLE', `${what} ${proxy.masked}: ${describeErrno(err)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.removeListener(tls ? 'secureConnect' : 'connect', onReady);
      socket.removeListener('error', onError);
    };
    socket.once(tls ? 'secureConnect' : 'connect', onReady);
    socket.once('error', onError);
  });
}

/** `CONNECT host:port`; resolves once a 2xx head has been read, with nothing of the tunnel consumed. */
function httpConnect(socket: Duplex, proxy: ProxySpec, target: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let head = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
    if (proxy.username !== undefined || proxy.password !== undefined) {
      const token = Buffer.from(`${proxy.username ?? ''}:${proxy.password ?? ''}`, 'utf8').toString('base64');
      head += `Proxy-Authorization: Basic ${token}\r\n`;
    }
    head += '\r\n';
    let received: Buffer = Buffer.alloc(0);
    const fail = (code: string, message: string) => {
      cleanup();
      reject(proxyError(code, message));
    };
    const timer = setTimeout(
      () => fail('QCC_CONNECT_TIMEOUT', `proxy ${proxy.masked} did not answer CONNECT ${target} within ${timeoutMs} ms`),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received.length > MAX_CONNECT_HEAD) fail('QCC_PROXY_PROTOCOL', `proxy ${proxy.masked} sent a CONNECT response head over ${MAX_CONNECT_HEAD} bytes`);
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?$/.exec(statusLine);
      if (!m) return fail('QCC_PROXY_PROTOCOL', `proxy ${proxy.masked} answered CONNECT with a malformed status line`);
      const status = Number(m[1]);
      const reason = `${status}${m[2] ? ` ${m[2].slice(0, 80)}` : ''}`;
      if (status >= 200 && status < 300) {
        // The tunnel is open: nothing may follow the head before the endpoint speaks, and no endpoint speaks first here.
        if (end + 4 !== received.length) return fail('QCC_PROXY_PROTOCOL', `proxy ${proxy.masked} sent bytes after its CONNECT response`);
        cleanup();
        resolve();
      } else if (status === 407 || status === 401) {
        // 407 is the standard answer; some proxies (tinyproxy) answer CONNECT with 401 for the same thing.
        const why = proxy.username === undefined ? 'asks for credentials (put user:pass@ in the proxy URL)' : 'rejected the credentials';
        fail('QCC_PROXY_AUTH', `proxy ${proxy.masked} ${why}: ${reason}`);
      } else {
        fail('QCC_PROXY_REFUSED', `proxy ${proxy.masked} refused CONNECT ${target}: ${reason}`);
      }
    };
    const onError = (err: NodeJS.ErrnoException) => fail('QCC_PROXY_UNREACHABLE', `proxy ${proxy.masked} broke the connection during CONNECT: ${describeErrno(err)}`);
    const onClose = () => fail('QCC_PROXY_REFUSED', `proxy ${proxy.masked} closed the connection instead of answering CONNECT ${target}`);
    const cleanup = () => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
    socket.write(head, 'latin1');
  });
}

async function socksConnect(socket: Duplex, proxy: ProxySpec, host: string, port: number, timeoutMs: number): Promise<void> {
  let destination = host;
  if (proxy.scheme === 'socks5' && isIP(host) === 0) {
    // socks5:// resolves names here; socks5h:// hands the name to the proxy (for DNS that only it can do).
    try {
      destination = (await lookup(host)).address;
    } catch (e: unknown) {
      throw proxyError('QCC_PROXY_DNS', `could not resolve ${host} locally for proxy ${proxy.masked} (${describeErrno(e as NodeJS.ErrnoException)}); use socks5h:// to let the proxy resolve it`);
    }
  }
  try {
    await SocksClient.createConnection({
      proxy: {
        host: proxy.host,
        port: proxy.port,
        type: 5,
        ...(proxy.username !== undefined && { userId: proxy.username }),
        ...(proxy.password !== undefined && { password: proxy.password }),
      },
      command: 'connect',
      destination: { host: destination, port },
      timeout: timeoutMs,
      existing_socket: socket,
    });
  } catch (e: unknown) {
    throw socksError(e, proxy, authority(host, port), timeoutMs);
  }
}

function socksError(e: unknown, proxy: ProxySpec, target: string, timeoutMs: number): UpstreamError {
  const message = e instanceof Error ? e.message : String(e);
  if (message.startsWith('Proxy connection timed out')) {
    return proxyError('QCC_CONNECT_TIMEOUT', `SOCKS5 proxy ${proxy.masked} did not open ${target} within ${timeoutMs} ms`);
  }
  if (message.startsWith('Socks5 Authentication failed')) {
    return proxyError('QCC_PROXY_AUTH', `SOCKS5 proxy ${proxy.masked} rejected the user name or password`);
  }
  if (message.includes('no accepted authentication type')) {
    const why = proxy.username === undefined ? 'asks for credentials (put user:pass@ in the proxy URL)' : 'accepts none of the offered authentication methods';
    return proxyError('QCC_PROXY_AUTH', `SOCKS5 proxy ${proxy.masked} ${why}`);
  }
  const rejected = /Socks5 proxy rejected connection - (\w+)/.exec(message);
  if (rejected) {
    const reply = SOCKS5_REPLIES[rejected[1]!] ?? rejected[1]!;
    return proxyError('QCC_PROXY_REFUSED', `SOCKS5 proxy ${proxy.masked} could not open ${target}: reply ${reply}`);
  }
  if (message === 'Socket closed') {
    return proxyError('QCC_PROXY_REFUSED', `SOCKS5 proxy ${proxy.masked} closed the connection during the handshake for ${target}`);
  }
  return proxyError('QCC_PROXY_PROTOCOL', `SOCKS5 proxy ${proxy.masked}: ${message}`);
}

function describeErrno(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  const text = ERRNO_TEXT[code];
  return text ? `${text} (${code})` : err.message;
}
