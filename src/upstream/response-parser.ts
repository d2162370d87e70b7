import { ResponseHeaders } from './response-headers.js';

/**
 * An incremental HTTP/1.1 response parser for one connection, one response at a time. It is fed socket reads
 * and hands out the status, the headers, and the body with its framing removed (Content-Length, chunked, or
 * until the connection closes). Everything decoded from one read is handed over as one piece, a slice of that
 * read: an upstream that writes every SSE event as its own chunk costs one callback per read, not one per event.
 * To make that one slice, the chunks' data is moved down over the framing between them inside the read itself
 * (`copyWithin`, a memmove): no new buffer and no object per chunk. So `execute` owns what it is given, and the
 * bytes of a read after its decoded body are not kept.
 *
 * Written by hand, like the client around it, because it runs on every byte of every response; it does only
 * what a response needs (no requests, no upgrades) and rejects what it does not understand rather than guess.
 */

export interface ResponseSink {
  /** A final (≥ 200) status and its headers. Informational (1xx) heads are skipped. */
  onHead(status: number, headers: ResponseHeaders): void;
  onBody(chunk: Buffer): void;
  /** The response is complete; `reusable` says whether the connection can carry another request. */
  onComplete(reusable: boolean): void;
}

export class ResponseParseError extends Error {
  readonly code = 'QCC_UPSTREAM_PROTOCOL';
}

/**
 * A response head larger than this is refused: 1 KiB under 16 KiB, llhttp's limit in Node's client (and undici's),
 * so that with qcc's own headers added no head it passes on can be one its client refuses (the fuzz run found a
 * 15.9 KB head that became 16.1 KB). The API's own heads are ~2 KB.
 */
export const MAX_HEAD_BYTES = 15 * 1024;
const MAX_CHUNK_SIZE_LINE = 1024;

const enum State {
  Head,
  FixedBody,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

const CRLF = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** The whole status line: version, a three-digit code, and a reason of visible characters, spaces and tabs. */
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
/** Header lines, each preceded by CRLF: a token, a colon, a value of visible characters, spaces and tabs. */
const HEADER_BLOCK = /^(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*$/;
const HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
const HEX = /^[0-9a-fA-F]+$/;
/** `;name[=value]` pieces, a value a token or a quoted string, nothing else (llhttp refuses even a space). */
const CHUNK_EXTENSIONS = /^(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e])*"))?)+$/;
/** A Content-Length value: digits only, at most 15 (beyond that is no body qcc will read). */
const DECIMAL_LENGTH = /^\d{1,15}$/;
const HEX_VALUE = new Int8Array(256).fill(-1);
for (let c = 0; c < 16; c++) {
  HEX_VALUE['0123456789abcdef'.charCodeAt(c)] = c;
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(c)] = c;
}

/** A head with no header lines (shared: see ResponseHeaders.empty). */
const NO_HEADERS = ResponseHeaders.empty();

export class ResponseParser {
  private state = State.Done;
  private carry: Buffer | undefined;
  private remaining = 0;
  private keepAlive = true;
  private headOnly = false;
  /** The body decoded from the current read so far: `outBuf[outStart, outEnd)`, or none when `outBuf` is unset. */
  private outBuf: Buffer | undefined;
  private outStart = 0;
  private outEnd = 0;
  /** Set when the connection's owner gave up on the response mid-read (an abort from inside a callback). */
  private abandoned = false;

  constructor(private readonly sink: ResponseSink) {}

  /** Expect a new response. `headOnly` for a HEAD request, whose response has headers but no body. */
  expect(headOnly = false): void {
    this.state = State.Head;
    this.carry = undefined;
    this.remaining = 0;
    this.keepAlive = true;
    this.headOnly = headOnly;
    this.abandoned = false;
    this.outBuf = undefined;
  }

  /** Stop here: the rest of the current read, and of the response, is not wanted. */
  abandon(): void {
    this.abandoned = true;
    this.state = State.Done;
    this.outBuf = undefined;
  }

  get idle(): boolean {
    return this.state === State.Done;
  }

  /**
   * Parse one read. Throws ResponseParseError on anything malformed; the connection must then be dropped. The
   * parser may rewrite `data` (see above): pass a read, not bytes that are needed again.
   */
  execute(data: Buffer): void {
    if (this.state === State.Done) {
      if (data.length > 0) throw new ResponseParseError('the upstream sent bytes outside a response');
      return;
    }
    let buf = data;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, data]);
      this.carry = undefined;
    }
    let at = 0;
    while (at < buf.length && !this.idle) at = this.step(buf, at);
    if (this.abandoned) return;
    this.flushBody();
    if (at < buf.length && this.idle) {
      throw new ResponseParseError('the upstream sent bytes after the end of its response');
    }
  }

  /** The connection ended. Completes a close-delimited body; anything else unfinished is the caller's error. */
  finishAtEof(): boolean {
    if (this.state !== State.UntilClose) return false;
    this.state = State.Done;
    this.sink.onComplete(false);
    return true;
  }

  /** Body bytes `buf[from, to)`: appended to the piece being gathered from this read. */
  private emit(buf: Buffer, from: number, to: number): void {
    if (from === to) return;
    if (this.outBuf !== buf) {
      // The first piece of this read (a read is only ever gathered into itself).
      this.outBuf = buf;
      this.outStart = from;
      this.outEnd = to;
      return;
    }
    // Only framing lies between the gathered bytes and these: move these down over it. The destination is
    // behind the source and holds nothing anyone still reads.
    if (from !== this.outEnd) buf.copyWithin(this.outEnd, from, to);
    this.outEnd += to - from;
  }

  private flushBody(): void {
    const buf = this.outBuf;
    if (buf === undefined || this.abandoned) return;
    this.outBuf = undefined;
    this.sink.onBody(this.outStart === 0 && this.outEnd === buf.length ? buf : buf.subarray(this.outStart, this.outEnd));
  }

  private complete(): void {
    this.state = State.Done;
    // Body pieces first, then the end, in that order for the sink.
    this.flushBody();
    if (!this.abandoned) this.sink.onComplete(this.keepAlive);
  }

  /** Consume from `at`; returns the new offset. Stops at `buf.length` when more input is needed. */
  private step(buf: Buffer, at: number): number {
    switch (this.state) {
      case State.Head:
        return this.head(buf, at);
      case State.FixedBody: {
        const take = Math.min(this.remaining, buf.length - at);
        this.emit(buf, at, at + take);
        this.remaining -= take;
        if (this.remaining === 0) this.complete();
        return at + take;
      }
      case State.UntilClose:
        this.emit(buf, at, buf.length);
        return buf.length;
      case State.ChunkSize: {
        // The usual line is hex digits and CRLF: read it byte by byte, no string and no regex (this runs once
        // per chunk, and a stream is dozens of chunks). Anything else takes the general path below.
        let size = 0;
        let i = at;
        while (i < buf.length && i - at <= 12) {
          const v = HEX_VALUE[buf[i]!]!;
          if (v < 0) break;
          size = size * 16 + v;
          i++;
        }
        if (i > at && i - at <= 12 && i + 1 < buf.length && buf[i] === 0x0d && buf[i + 1] === 0x0a) {
          this.remaining = size;
          this.state = size === 0 ? State.Trailers : State.ChunkData;
          return i + 2;
        }
        const eol = buf.indexOf(CRLF, at);
        if (eol === -1) return this.keep(buf, at, MAX_CHUNK_SIZE_LINE, 'chunk size line');
        if (eol - at > MAX_CHUNK_SIZE_LINE) throw new ResponseParseError(`chunk size line longer than ${MAX_CHUNK_SIZE_LINE} bytes`);
        const line = buf.toString('latin1', at, eol);
        const semi = line.indexOf(';'); // chunk extensions (";name=value") are allowed and ignored
        const sizeText = semi === -1 ? line : line.slice(0, semi);
        // Hex digits only: no white space around them, no sign, no prefix (llhttp refuses each).
        if (!HEX.test(sizeText) || sizeText.length > 12) throw new ResponseParseError(`bad chunk size "${sizeText.slice(0, 20)}"`);
        if (semi !== -1 && !CHUNK_EXTENSIONS.test(line.slice(semi))) throw new ResponseParseError('control characters in a chunk extension');
        this.remaining = parseInt(sizeText, 16);
        this.state = this.remaining === 0 ? State.Trailers : State.ChunkData;
        return eol + 2;
      }
      case State.ChunkData: {
        const take = Math.min(this.remaining, buf.length - at);
        this.emit(buf, at, at + take);
        this.remaining -= take;
        if (this.remaining === 0) {
          this.state = State.ChunkDataEnd;
          this.remaining = 2;
        }
        return at + take;
      }
      case State.ChunkDataEnd: {
        // The CRLF after a chunk's data; it may arrive split across reads.
        while (this.remaining > 0 && at < buf.length) {
          if (buf[at] !== (this.remaining === 2 ? 0x0d : 0x0a)) throw new ResponseParseError('chunk data not followed by CRLF');
          this.remaining--;
          at++;
        }
        if (this.remaining === 0) this.state = State.ChunkSize;
        return at;
      }
      case State.Trailers: {
        // Trailer fields, then an empty line. qcc has no use for trailers; they are read and dropped.
        const eol = buf.indexOf(CRLF, at);
        if (eol === -1) return this.keep(buf, at, MAX_HEAD_BYTES, 'trailers');
        if (eol === at) {
          this.complete();
          return eol + 2;
        }
        // Dropped, but checked like header lines (llhttp refuses malformed ones).
        if (!HEADER_LINE.test(buf.toString('latin1', at, eol))) throw new ResponseParseError('malformed trailer line');
        return eol + 2;
      }
      default:
        return buf.length;
    }
  }

  /** Keep an incomplete line for the next read, within a limit. */
  private keep(buf: Buffer, at: number, limit: number, what: string): number {
    if (buf.length - at > limit) throw new ResponseParseError(`${what} longer than ${limit} bytes`);
    this.carry = Buffer.from(buf.subarray(at));
    return buf.length;
  }

  private head(buf: Buffer, at: number): number {
    const end = buf.indexOf(CRLFCRLF, at);
    if (end === -1) return this.keep(buf, at, MAX_HEAD_BYTES, 'response head');
    if (end - at > MAX_HEAD_BYTES) throw new ResponseParseError(`response head longer than ${MAX_HEAD_BYTES} bytes`);
    const text = buf.toString('latin1', at, end);
    const firstEol = text.indexOf('\r\n');
    const statusLine = firstEol === -1 ? text : text.slice(0, firstEol);
    const statusMatch = STATUS_LINE.exec(statusLine);
    if (!statusMatch) throw new ResponseParseError(`not an HTTP/1.x status line: "${statusLine.slice(0, 40)}"`);
    const status = Number(statusMatch[1]);
    const http10 = statusLine[7] === '0';
    let headers = NO_HEADERS;
    if (firstEol !== -1) {
      const block = text.slice(firstEol);
      // One pass validates every line (a token, a colon, then no control character but tab), so nothing that
      // Node's own server would refuse to send on can reach the client's response.
      if (!HEADER_BLOCK.test(block)) throw new ResponseParseError(`malformed header line "${badLine(block).slice(0, 40)}"`);
      const starts: number[] = [];
      const colons: number[] = [];
      let lineStart = 0;
      while (lineStart !== -1) {
        starts.push(lineStart);
        colons.push(block.indexOf(':', lineStart + 2));
        lineStart = block.indexOf('\r\n', lineStart + 2);
      }
      headers = new ResponseHeaders(block, starts, colons);
    }
    const next = end + 4;
    if (status < 200) {
      // 100 Continue, 103 Early Hints: a final response follows on the same connection.
      if (status === 101) throw new ResponseParseError('the upstream switched protocols');
      return next;
    }
    this.frame(status, headers, http10);
    const bodiless = this.state === State.Done;
    this.sink.onHead(status, headers);
    if (bodiless && !this.abandoned) this.complete();
    return next;
  }

  /** Decide how the body is delimited (RFC 9112 §6.3) and whether the connection survives it. */
  private frame(status: number, headers: ResponseHeaders, http10: boolean): void {
    const connection = (headers.get('connection') ?? '').toLowerCase();
    this.keepAlive = http10 ? connection.includes('keep-alive') : !connection.includes('close');
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    // Checked whatever the status, as llhttp does. Both framings at once is how responses are smuggled; a
    // repeated Content-Length (joined here as "n, n") or a list is refused too, as llhttp refuses it, rather than
    // collapsed: clients with llhttp would refuse the response anyway.
    if (te !== undefined && cl !== undefined) throw new ResponseParseError('both Transfer-Encoding and Content-Length');
    // Digits only, and nothing after them on the line (llhttp refuses even a trailing tab).
    if (cl !== undefined && (!DECIMAL_LENGTH.test(cl) || !/\d$/.test(headers.untrimmed('content-length')!))) {
      throw new ResponseParseError(`invalid content-length "${cl.slice(0, 40)}"`);
    }
    if (this.headOnly || status === 204 || status === 304) {
      this.state = State.Done;
      return;
    }
    if (te === 'chunked') {
      // The usual case, spelled as everyone spells it: no list to split.
      this.state = State.ChunkSize;
      return;
    }
    if (te !== undefined) {
      const codings = te.toLowerCase().split(',');
      if (codings[codings.length - 1]!.trim() !== 'chunked') {
        // Framed by the end of the connection (RFC 9112 §6.3 rule 4 for responses).
        this.keepAlive = false;
        this.state = State.UntilClose;
        return;
      }
      this.state = State.ChunkSize;
      return;
    }
    if (cl !== undefined) {
      this.remaining = Number(cl);
      this.state = this.remaining === 0 ? State.Done : State.FixedBody;
      return;
    }
    this.keepAlive = false;
    this.state = State.UntilClose;
  }
}

/** The first line of a header block that is not a valid header line (for the error message). */
function badLine(block: string): string {
  return block.split('\r\n').slice(1).find((line) => !HEADER_LINE.test(line)) ?? '';
}
