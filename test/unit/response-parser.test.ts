import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { ResponseHeaders } from '../../src/upstream/response-headers.js';
import { ResponseParser, MAX_HEAD_BYTES } from '../../src/upstream/response-parser.js';
import { prng } from '../helpers/prng.js';

interface Parsed {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
  bodyCalls: number;
  complete?: { reusable: boolean };
  error?: string;
}

/** Feed `pieces` as separate reads; `eof` ends the connection after them. */
function parse(pieces: (string | Buffer)[], opts: { eof?: boolean; headOnly?: boolean } = {}): Parsed {
  const out: Parsed = { body: Buffer.alloc(0), bodyCalls: 0 };
  const parser = new ResponseParser({
    onHead(status, headers) {
      out.status = status;
      out.headers = headers.object;
    },
    onBody(chunk) {
      out.body = Buffer.concat([out.body, chunk]);
      out.bodyCalls++;
    },
    onComplete(reusable) {
      out.complete = { reusable };
    },
  });
  parser.expect(opts.headOnly ?? false);
  try {
    for (const p of pieces) parser.execute(Buffer.from(p));
    if (opts.eof) parser.finishAtEof();
  } catch (e: unknown) {
    out.error = (e as Error).message;
  }
  return out;
}

/** Every way of cutting `text` into two reads, and one byte per read: the result must never depend on the cut. */
function everySplit(text: string, opts: { eof?: boolean } = {}): Parsed[] {
  const results = [parse([text], opts), parse([...text].map((c) => c), opts)];
  for (let i = 1; i < text.length; i++) results.push(parse([text.slice(0, i), text.slice(i)], opts));
  return results;
}

function expectSame(results: Parsed[]): Parsed {
  const first = results[0]!;
  for (const r of results) {
    expect({ ...r, bodyCalls: 0, body: r.body.toString() }).toEqual({ ...first, bodyCalls: 0, body: first.body.toString() });
  }
  return first;
}

describe('HTTP/1.1 response parser', () => {
  it('reads a Content-Length body exactly, whatever the reads', () => {
    const r = expectSame(everySplit('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'));
    expect(r.status).toBe(200);
    expect(r.headers).toEqual({ 'content-type': 'application/json', 'content-length': '11' });
    expect(r.body.toString()).toBe('{"ok":true}');
    expect(r.complete).toEqual({ reusable: true });
  });

  it('decodes chunked bodies with extensions and trailers, whatever the reads', () => {
    const text =
      'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n' +
      '5\r\nevent\r\n' +
      '1;name=value\r\n:\r\n' +
      'C\r\n data: 12345\r\n' +
      '0\r\nx-trailer: 1\r\n\r\n';
    const r = expectSame(everySplit(text));
    expect(r.body.toString()).toBe('event: data: 12345');
    expect(r.complete).toEqual({ reusable: true });
  });

  it('hands over everything decoded from one read as one piece (one write downstream, not one per chunk)', () => {
    const chunks = Array.from({ length: 40 }, (_, i) => `event: e\ndata: ${i}\n\n`);
    const text = `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
    const r = parse([text]);
    expect(r.body.toString()).toBe(chunks.join(''));
    expect(r.bodyCalls).toBe(1);
  });

  it('leaves every piece it handed over intact while it gathers later chunks inside later reads', () => {
    // The parser moves chunk data over the framing inside each read; a sink may keep the pieces (the proxy
    // holds a stream's opening for failover, the SSE reader keeps a partial line), so nothing handed over may
    // change afterwards, however the reads fall.
    const chunks = Array.from({ length: 60 }, (_, i) => `event: content_block_delta\ndata: {"i":${i},"text":"${'é'.repeat(i % 7)}"}\n\n`);
    const text = `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${chunks.map((c) => `${Buffer.byteLength(c).toString(16)}\r\n${c}\r\n`).join('')}0\r\n\r\n`;
    const bytes = Buffer.from(text);
    for (let seed = 1; seed <= 200; seed++) {
      const kept: Buffer[] = [];
      const copies: Buffer[] = [];
      const parser = new ResponseParser({
        onHead() {},
        onBody(chunk) {
          kept.push(chunk);
          copies.push(Buffer.from(chunk));
        },
        onComplete() {},
      });
      parser.expect();
      let at = 0;
      let rnd = seed;
      while (at < bytes.length) {
        rnd = (rnd * 1103515245 + 12345) % 2147483648;
        const n = 1 + (rnd % 400);
        parser.execute(Buffer.from(bytes.subarray(at, at + n)));
        at += n;
      }
      expect(Buffer.concat(kept).toString()).toBe(chunks.join(''));
      kept.forEach((piece, i) => expect(piece.equals(copies[i]!)).toBe(true));
    }
  });

  it('reads a body without framing until the connection ends, and never reuses that connection', () => {
    const text = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: 1\n\n';
    const results = everySplit(text, { eof: true });
    const r = expectSame(results);
    expect(r.body.toString()).toBe('data: 1\n\n');
    expect(r.complete).toEqual({ reusable: false });
    expect(parse([text]).complete).toBeUndefined(); // not complete until the end
  });

  it('has no body for 204, 304 and HEAD, and skips 1xx heads', () => {
    expect(parse(['HTTP/1.1 204 No Content\r\ncontent-length: 7\r\n\r\n'])).toMatchObject({ status: 204, complete: { reusable: true } });
    expect(parse(['HTTP/1.1 304 Not Modified\r\n\r\n'])).toMatchObject({ status: 304, complete: { reusable: true } });
    expect(parse(['HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n'], { headOnly: true })).toMatchObject({ status: 200, complete: { reusable: true } });
    const r = expectSame(everySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    expect(r.status).toBe(200);
    expect(r.headers).toEqual({ 'content-length': '2' });
    expect(r.body.toString()).toBe('ok');
  });

  it('joins repeated headers as Node does, keeps set-cookie a list, lower-cases names', () => {
    const r = parse(['HTTP/1.1 200 OK\r\nVia: a\r\nvia: b\r\nSet-Cookie: x=1\r\nset-cookie: y=2\r\nX-Empty:\r\ncontent-length: 0\r\n\r\n']);
    expect(r.headers).toEqual({ via: 'a, b', 'set-cookie': ['x=1', 'y=2'], 'x-empty': '', 'content-length': '0' });
  });

  it('looks headers up by lower-cased name as the object has them, without making the object', () => {
    let h: ResponseHeaders | undefined;
    const parser = new ResponseParser({ onHead: (_s, headers) => (h = headers), onBody: () => undefined, onComplete: () => undefined });
    parser.expect();
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\nVia: a \r\nvia:\tb\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n'));
    expect(h!.get('via')).toBe('a, b');
    expect(h!.get('x-empty')).toBe('');
    expect(h!.get('content-length')).toBe('0');
    expect([h!.has('via'), h!.has('date')]).toEqual([true, false]);
    expect(h!.block).toBe('\r\nVia: a \r\nvia:\tb\r\nX-Empty:\r\nContent-Length: 0');
    expect(h!.object).toEqual({ via: 'a, b', 'x-empty': '', 'content-length': '0' });
  });

  it('knows when a connection can carry another request', () => {
    expect(parse(['HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n']).complete).toEqual({ reusable: false });
    expect(parse(['HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n']).complete).toEqual({ reusable: false });
    expect(parse(['HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n']).complete).toEqual({ reusable: true });
  });

  it.each([
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n', /status line/],
    ['a header line without a colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n', /malformed header line/],
    ['a header name with a space', 'HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n', /malformed header/],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nx-a: b\u0001c\r\n\r\n', /malformed header/],
    ['conflicting content-lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nx', /invalid content-length/],
    // What llhttp refuses too (test/integration/parser-differential.test.ts compares the two at large):
    ['a content-length list, even of equal values', 'HTTP/1.1 200 OK\r\ncontent-length: 1, 1\r\n\r\nx', /invalid content-length/],
    ['a repeated content-length', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\nx', /invalid content-length/],
    ['both framings (how smuggling starts)', 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', /both Transfer-Encoding and Content-Length/],
    ['an invalid content-length on a 204', 'HTTP/1.1 204 No Content\r\ncontent-length: x\r\n\r\n', /invalid content-length/],
    ['white space around a chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n 2\r\nok\r\n0\r\n\r\n', /chunk size/],
    ['white space after a chunk size', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2 \r\nok\r\n0\r\n\r\n', /chunk size/],
    ['a control character in a chunk extension', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2;a\u0001\r\nok\r\n0\r\n\r\n', /chunk extension/],
    ['a bare CR in the status line', 'HTTP/1.1 200 OK\rx\r\ncontent-length: 0\r\n\r\n', /status line/],
    ['a negative content-length', 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /invalid content-length/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
    ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXY', /CRLF/],
    ['bytes after the end of the response', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA', /after the end|outside a response/],
    ['a protocol switch', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', /switched protocols/],
  ])('refuses %s', (_name, text, message) => {
    for (const r of everySplit(text)) expect(r.error).toMatch(message);
  });

  it('refuses a head larger than the limit instead of buffering without end', () => {
    const r = parse(['HTTP/1.1 200 OK\r\n', `x-big: ${'a'.repeat(MAX_HEAD_BYTES)}`]);
    expect(r.error).toMatch(/longer than/);
  });

  it('stops at once when the owner abandons the response from a callback', () => {
    let bodies = 0;
    let completes = 0;
    const parser: ResponseParser = new ResponseParser({
      onHead: () => parser.abandon(),
      onBody: () => bodies++,
      onComplete: () => completes++,
    });
    parser.expect();
    parser.execute(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokGARBAGE'));
    expect([bodies, completes]).toEqual([0, 0]);
  });

  it('reads each of many responses on one connection as if it were the first (names and values remembered by position)', () => {
    const heads: IncomingHttpHeaders[] = [];
    const parser = new ResponseParser({
      onHead: (_status, headers) => heads.push(headers.object),
      onBody: () => undefined,
      onComplete: () => undefined,
    });
    const names = ['Content-Type', 'content-type', 'Request-Id', 'request-id', 'request-i', 'X-Should-Retry', 'Date', 'Via'];
    const values = ['application/json', 'application/jsoN', 'req_1', 'req_2', 'req_10', '\tpadded ', 'true', '', 'caf\xe9'];
    const random = prng(3);
    for (let n = 0; n < 300; n++) {
      const expected: IncomingHttpHeaders = {};
      let head = 'HTTP/1.1 200 OK\r\n';
      for (const name of names) {
        if (random() < 0.4 || expected[name.toLowerCase()] !== undefined) continue;
        const value = values[Math.floor(random() * values.length)]!;
        head += `${name}:${random() < 0.5 ? ' ' : ''}${value}\r\n`;
        expected[name.toLowerCase()] = value.replace(/^[ \t]+|[ \t]+$/g, '');
      }
      head += 'Content-Length: 2\r\n\r\nok';
      expected['content-length'] = '2';
      parser.expect(false);
      parser.execute(Buffer.from(head, 'latin1'));
      expect(heads[n], head).toEqual(expected);
    }
  });
});
