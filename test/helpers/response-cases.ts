import { request } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ResponseParser } from '../../src/upstream/response-parser.js';
import { prng } from './prng.js';

/**
 * Responses for differential tests of qcc's upstream response parser against llhttp (Node's own, through a
 * node:http client): a generator of plausible responses, byte-level mutations of them, and both parsers' verdicts.
 */

export interface Verdict {
  /** `complete`: a whole response was read; `error`: refused (or cut short). */
  kind: 'complete' | 'error';
  status?: number;
  body?: string;
  detail?: string;
}

const REASONS = ['OK', 'Created', '', 'Whatever'];

/** A plausible response: status, a few headers, and a body framed by Content-Length, chunked, or the close. */
export function generateResponse(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const status = pick([200, 200, 200, 201, 204, 304, 400, 429, 500, 529]);
  const body = pick(['', '{}', '{"type":"message"}', 'event: ping\ndata: {}\n\n', 'x'.repeat(Math.floor(rand() * 300))]);
  const headers: string[] = [pick(['Content-Type: application/json', 'content-type: text/event-stream', 'Content-Type:application/json'])];
  if (rand() < 0.3) headers.push(pick(['X-Request-Id: req_1', 'anthropic-ratelimit-requests-remaining: 9', 'Connection: keep-alive', 'Connection: close', 'Keep-Alive: timeout=5']));
  const framing = pick(['length', 'length', 'chunked', 'chunked', 'close', 'both']);
  let bodyText = body;
  if (framing === 'length' || framing === 'both') headers.push(`Content-Length: ${Buffer.byteLength(body)}`);
  if (framing === 'chunked' || framing === 'both') {
    headers.push(pick(['Transfer-Encoding: chunked', 'transfer-encoding: chunked', 'Transfer-Encoding: gzip, chunked']));
    bodyText = chunked(body, rand);
  }
  // Now and then a head near llhttp's 16 KiB limit, on either side of it.
  if (rand() < 0.03) headers.push(`X-Big: ${'a'.repeat(15_000 + Math.floor(rand() * 3_000))}`);
  if (rand() < 0.5) headers.sort(() => rand() - 0.5);
  return `HTTP/1.${rand() < 0.9 ? 1 : 0} ${status} ${pick(REASONS)}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${bodyText}`;
}

function chunked(body: string, rand: () => number): string {
  let out = '';
  let at = 0;
  while (at < body.length) {
    const n = Math.max(1, Math.floor(rand() * 40));
    const piece = body.slice(at, at + n);
    at += n;
    out += `${piece.length.toString(16)}${rand() < 0.1 ? ';ext=1' : ''}\r\n${piece}\r\n`;
  }
  return `${out}0\r\n${rand() < 0.15 ? 'X-Trailer: 1\r\n' : ''}\r\n`;
}

/** Byte strings that, inserted or substituted, make the cases framing parsers get wrong. */
const INTERESTING = ['\n', '\r', '\r\n', ' ', '\t', '\0', '\x7f', ',', '-', '0x', ':', ';', '0', 'ff', '\r\n\r\n', 'Content-Length: 5\r\n', 'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: identity\r\n', '\x01', 'é'];

/** One to three mutations: a byte replaced, deleted or inserted, or an interesting string put in. */
export function mutate(text: string, rand: () => number): string {
  let out = text;
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (out.length + 1));
    const r = rand();
    if (r < 0.25) out = out.slice(0, at) + out.slice(at + 1);
    else if (r < 0.5) out = out.slice(0, at) + String.fromCharCode(Math.floor(rand() * 256)) + out.slice(at + 1);
    else out = out.slice(0, at) + INTERESTING[Math.floor(rand() * INTERESTING.length)]! + out.slice(at);
  }
  return out;
}

/** qcc's parser over `bytes`, fed in the given pieces, then the end of the connection. */
export function qccVerdict(bytes: Buffer, splits: number[] = []): Verdict {
  let status: number | undefined;
  const body: Buffer[] = [];
  let complete = false;
  const parser = new ResponseParser({
    onHead: (s) => (status = s),
    onBody: (c) => body.push(Buffer.from(c)),
    onComplete: () => (complete = true),
  });
  parser.expect(false);
  try {
    let at = 0;
    for (const s of [...splits.filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b), bytes.length]) {
      if (s <= at) continue;
      // The parser may rewrite what it is given (it owns a read): give it a copy, as a socket read would be.
      parser.execute(Buffer.from(bytes.subarray(at, s)));
      at = s;
      if (complete) break;
    }
    if (!complete) parser.finishAtEof();
  } catch (e: unknown) {
    if (!complete) return { kind: 'error', detail: (e as Error).message };
  }
  if (!complete) return { kind: 'error', detail: 'connection closed before the response was complete' };
  return { kind: 'complete', status: status!, body: Buffer.concat(body).toString('latin1') };
}

/** Node's http client (llhttp) against a server that writes `bytes` and closes; one at a time. */
export class LlhttpOracle {
  private server: Server | undefined;
  private next: Buffer = Buffer.alloc(0);
  private port = 0;
  private readonly sockets = new Set<Socket>();

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end(this.next));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server!.address() as AddressInfo).port;
  }

  verdict(bytes: Buffer): Promise<Verdict> {
    this.next = bytes;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (v: Verdict) => {
        if (settled) return;
        settled = true;
        resolve(v);
      };
      let response: { complete: boolean; status: number; body: () => string } | undefined;
      const req = request({ host: '127.0.0.1', port: this.port, method: 'POST', path: '/', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        response = { get complete() { return res.complete; }, status: res.statusCode!, body: () => Buffer.concat(chunks).toString('latin1') };
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => settle(res.complete ? { kind: 'complete', status: res.statusCode!, body: Buffer.concat(chunks).toString('latin1') } : { kind: 'error', detail: 'incomplete' }));
        res.on('aborted', () => settle({ kind: 'error', detail: 'aborted' }));
        res.on('error', (e) => settle({ kind: 'error', detail: e.message }));
        res.on('close', () => settle(res.complete ? { kind: 'complete', status: res.statusCode!, body: Buffer.concat(chunks).toString('latin1') } : { kind: 'error', detail: 'closed' }));
      });
      // An error about bytes after a complete response (the next "response" is junk) is not about this one: its
      // body's 'data' events are still to come, and its 'end' settles it.
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (!response?.complete) settle({ kind: 'error', detail: e.code ?? e.message });
      });
      req.end('{}');
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

/** Where qcc is laxer than llhttp about framing: it completed a response llhttp refused, or read another body. */
export function laxer(qcc: Verdict, node: Verdict): string | undefined {
  if (qcc.kind === 'error') return undefined; // as strict, or stricter
  if (node.kind === 'error') return `qcc completed (status ${qcc.status}, ${qcc.body?.length} body bytes) what llhttp refused (${node.detail})`;
  if (qcc.status !== node.status) return `status ${qcc.status} vs llhttp ${node.status}`;
  if (qcc.body !== node.body) return `body of ${qcc.body?.length} bytes vs llhttp's ${node.body?.length}`;
  return undefined;
}

export { prng };
