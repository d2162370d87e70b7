import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { MAX_FAST_HEAD_BYTES, parseFastHead } from '../../src/server/request-head.js';
import { prng } from '../helpers/prng.js';

/**
 * The fast path must read a strict subset of what Node's HTTP server reads, and read it the same way: every head
 * it accepts is compared with what Node's own parser makes of the same bytes.
 */

const captured = JSON.parse(readFileSync(new URL('../fixtures/claude-code-2.1.197-messages-head.json', import.meta.url), 'utf8')) as {
  method: string;
  path: string;
  headers: Record<string, string>;
};

/** The captured Claude Code request's head, as its client wrote it (the key is a stand-in). */
function claudeCodeHead(): string {
  const lines = [`${captured.method} ${captured.path} HTTP/1.1`];
  for (const [name, value] of Object.entries(captured.headers)) lines.push(`${name}: ${name === 'x-api-key' ? 'sk-ant-test-0000' : value}`);
  return lines.join('\r\n');
}

interface NodeView {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

let server: Server;
let port = 0;
let closeTagging = () => {};
const seen = new Map<string, NodeView>();
const tags = new WeakMap<Socket, string>();

/** What Node's HTTP server makes of a head: its view of the request, or undefined if it refuses it. */
function nodeParse(head: string): Promise<NodeView | undefined> {
  const tag = `t${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      // The tag rides in front so the server can tell which connection a request came on.
      socket.write(Buffer.concat([Buffer.from(`${tag}\n`, 'latin1'), Buffer.from(`${head}\r\n\r\n`, 'latin1')]));
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    const done = () => {
      const view = seen.get(tag);
      seen.delete(tag);
      resolve(answer.startsWith('HTTP/1.1 200') ? view : undefined);
    };
    socket.on('close', done);
    socket.on('error', () => undefined);
  });
}

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.set(tags.get(req.socket) ?? '', { method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { connection: 'close', 'content-length': '0' }).end();
    req.resume();
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  server.emit('listening'); // it never listens itself: connections are handed to it below
  // A listener that reads "<tag>\n" off each connection, then hands the rest to Node's HTTP server.
  const tagging = createNetServer((socket) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl === -1) return;
      socket.off('data', onData);
      tags.set(socket, buf.toString('latin1', 0, nl));
      socket.pause();
      socket.unshift(buf.subarray(nl + 1));
      server.emit('connection', socket);
      socket.resume();
    };
    socket.on('data', onData);
  });
  closeTagging = () => tagging.close();
  await new Promise<void>((resolve) => tagging.listen(0, '127.0.0.1', resolve));
  port = (tagging.address() as AddressInfo).port;
});

afterAll(() => {
  closeTagging();
  server.close();
});

describe('parseFastHead', () => {
  it("reads Claude Code's own request head exactly as Node does", async () => {
    const head = claudeCodeHead();
    const fast = parseFastHead(head);
    expect(fast).toBeDefined();
    const node = await nodeParse(head);
    expect(node).toBeDefined();
    expect(fast!.url).toBe('/v1/messages?beta=true');
    expect(fast!.url).toBe(node!.url);
    expect(fast!.lines.object).toEqual(node!.headers);
    expect(fast!.contentLength).toBe(76610);
    expect(fast!.keepAlive).toBe(true);
  });

  const base = 'POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 12';

  it('trims values and lower-cases names as Node does', async () => {
    const head = 'POST /v1/messages HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nX-Odd-Case:   padded value \t\r\nEmpty:';
    const fast = parseFastHead(head);
    expect(fast?.lines.object).toEqual({ host: 'a', 'content-length': '3', 'x-odd-case': 'padded value', empty: '' });
    expect(fast!.lines.object).toEqual((await nodeParse(head))!.headers);
  });

  it("reads Claude Code's warm-up and API GETs as Node does", async () => {
    for (const head of ['HEAD / HTTP/1.1\r\nhost: 127.0.0.1:7860\r\nconnection: keep-alive', 'GET / HTTP/1.1\r\nhost: a', 'GET /v1/models?limit=5 HTTP/1.1\r\nhost: a\r\ncontent-length: 0\r\nx-api-key: k']) {
      const fast = parseFastHead(head);
      expect(fast, head).toBeDefined();
      expect(fast!.contentLength).toBe(0);
      const node = await nodeParse(head);
      expect({ method: fast!.method, url: fast!.url, headers: fast!.lines.object }).toEqual({ method: node!.method, url: node!.url, headers: node!.headers });
    }
  });

  it('sees Connection: close', () => {
    expect(parseFastHead(`${base}\r\nConnection: Close`)?.keepAlive).toBe(false);
    expect(parseFastHead(`${base}\r\nconnection: keep-alive`)?.keepAlive).toBe(true);
  });

  // Each of these is left to Node's server: the fast path must not take them (Node answers, or reads them its way).
  const leftToNode: [string, string][] = [
    ['a GET outside /v1/', 'GET /dashboard/ HTTP/1.1\r\nhost: a'],
    ['a GET with a body', 'GET /v1/models HTTP/1.1\r\nhost: a\r\ncontent-length: 5'],
    ['a POST to /', 'POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['a PUT', 'PUT /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nhost: a'],
    ['a path outside /v1/', 'POST /api/config HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['absolute form', 'POST http://a/v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['HTTP/1.0', 'POST /v1/messages HTTP/1.0\r\nhost: a\r\ncontent-length: 2'],
    ['a lower-case method', 'post /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['two spaces', 'POST  /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['a quote in the target', 'POST /v1/mess"ages HTTP/1.1\r\nhost: a\r\ncontent-length: 2'],
    ['chunked', 'POST /v1/messages HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked'],
    ['chunked and a length', `${base}\r\ntransfer-encoding: chunked`],
    ['Expect: 100-continue', `${base}\r\nexpect: 100-continue`],
    ['an upgrade', `${base}\r\nupgrade: websocket\r\nconnection: upgrade`],
    ['a Connection list', `${base}\r\nconnection: keep-alive, x-private`],
    ['no length', 'POST /v1/messages HTTP/1.1\r\nhost: a'],
    ['a length with a sign', 'POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: +12'],
    ['an empty length', 'POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: '],
    ['a length list', 'POST /v1/messages HTTP/1.1\r\nhost: a\r\ncontent-length: 12, 12'],
    ['two lengths', `${base}\r\ncontent-length: 12`],
    ['a repeated header (Node joins or drops)', `${base}\r\nx-a: 1\r\nX-A: 2`],
    ['a header named __proto__', `${base}\r\n__proto__: x`],
    ['no Host', 'POST /v1/messages HTTP/1.1\r\ncontent-length: 2'],
    ['a folded line', `${base}\r\nx-a: 1\r\n  continued`],
    ['a space before the colon', `${base}\r\nx-a : 1`],
    ['a bare LF', `${base}\nx-a: 1`],
    ['a bare CR in a value', `${base}\r\nx-a: 1\r2`],
    ['a NUL in a value', `${base}\r\nx-a: 1\u00002`],
    ['DEL in a value', `${base}\r\nx-a: 1\u007f`],
    ['latin1 in a value', `${base}\r\nx-a: caf\u00e9`],
    ['an empty name', `${base}\r\n: 1`],
    ['a leading blank line', `\r\n${base}`],
    ['hundreds of headers', `${base}${Array.from({ length: 300 }, (_, i) => `\r\nx-${i}: 1`).join('')}`],
  ];
  for (const [what, head] of leftToNode) {
    it(`leaves ${what} to Node`, () => {
      expect(parseFastHead(head)).toBeUndefined();
    });
  }

  it('has the same head size limit as Node', () => {
    expect(MAX_FAST_HEAD_BYTES).toBe(16 * 1024);
  });

  it('never accepts a head Node refuses or reads differently (2,000 random mutations of real heads)', async () => {
    const random = prng(20261128);
    const seeds = [claudeCodeHead(), `${base}\r\nx-api-key: k\r\nanthropic-version: 2023-06-01`, 'HEAD / HTTP/1.1\r\nhost: 127.0.0.1:7860\r\nconnection: keep-alive'];
    const alphabet = [' ', '\t', '\r', '\n', ':', ',', '\0', '\x7f', '\x80', '\xff', 'A', 'z', '0', '"', '/', '?', '#', '%', '-', '_'];
    let accepted = 0;
    const checks: Promise<void>[] = [];
    for (let i = 0; i < 2000; i++) {
      const chars = [...seeds[i % seeds.length]!];
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * chars.length);
        const c = alphabet[Math.floor(random() * alphabet.length)]!;
        const kind = random();
        if (kind < 0.4) chars[at] = c;
        else if (kind < 0.7) chars.splice(at, 0, c);
        else chars.splice(at, 1);
      }
      let head = chars.join('');
      const end = head.indexOf('\r\n\r\n');
      if (end !== -1) head = head.slice(0, end); // the connection reads up to the first blank line, so do we
      const fast = parseFastHead(head);
      if (fast === undefined) continue;
      accepted++;
      checks.push(
        nodeParse(head).then((node) => {
          expect(node, `Node refused a head the fast path took: ${JSON.stringify(head)}`).toBeDefined();
          expect({ method: fast.method, url: fast.url, headers: fast.lines.object }).toEqual({ method: node!.method, url: node!.url, headers: node!.headers });
        }),
      );
      if (checks.length >= 32) await Promise.all(checks.splice(0));
    }
    await Promise.all(checks);
    // The mutations must leave a fair share acceptable, or the comparison above proves little.
    expect(accepted).toBeGreaterThan(300);
  }, 60_000);
});

describe('successive heads (names and values remembered by position)', () => {
  it('reads every head as if it were the first, whatever the one before it held at each position', () => {
    // Names that differ in case, length or by a prefix, and values that repeat, change or only keep their
    // length, in changing orders: each parse must equal a plain reading of its own bytes.
    const names = ['Content-Type', 'content-type', 'X-App', 'x-app', 'x-ap', 'X-Stainless-Lang', 'anthropic-version', 'User-Agent', 'x-api-key'];
    const values = ['application/json', 'application/jsoN', 'cli', 'cl', '2023-06-01', '2023-06-02', ' padded\t', 'sk-ant-a', 'sk-ant-b', ''];
    const random = prng(11);
    const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)]!;
    for (let n = 0; n < 400; n++) {
      const lines = [`POST /v1/messages HTTP/1.1`, 'Host: 127.0.0.1:7860'];
      const expected: Record<string, string> = { host: '127.0.0.1:7860' };
      for (const name of names) {
        if (random() < 0.4 || expected[name.toLowerCase()] !== undefined) continue;
        const value = pick(values);
        lines.push(`${name}:${random() < 0.5 ? ' ' : ''}${value}`);
        expected[name.toLowerCase()] = value.trim();
      }
      lines.push('Content-Length: 2');
      expected['content-length'] = '2';
      const head = parseFastHead(lines.join('\r\n'));
      expect(head?.lines.object, lines.join(' | ')).toEqual(expected);
    }
  });
});
