import { request } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ResponseParser } from '../../src/upstream/response-parser.js';
import { generateResponse, mutate } from '../../src/sim/fuzz.js';
import { prng } from './prng.js';

export { generateResponse, mutate };

/**
 * Differential tests of qcc's upstream response parser against llhttp (Node's own, through a node:http client):
 * both parsers' verdicts on the cases src/sim/fuzz.ts makes.
 */

export interface Verdict {
  /** `complete`: a whole response was read; `error`: refused (or cut short). */
  kind: 'complete' | 'error';
  status?: number;
  body?: string;
  detail?: string;
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
