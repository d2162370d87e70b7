import type { IncomingHttpHeaders } from 'node:http';

/** Headers that may appear more than once and must stay a list (the rest are joined with ", ", as Node does). */
const LIST_HEADERS = new Set(['set-cookie']);

/**
 * A response's header lines as they arrived, already validated by the parser: looked up by name, handed on as
 * text, and turned into an object only for whoever asks for one.
 *
 * Why not an object from the start: the real API answers with two dozen headers (rate limits, request id, CDN),
 * and an object given that many names one by one turns into a dictionary. Building it, copying it without the
 * hop-by-hop names and writing it back out cost ~15 µs a response, most of the proxy's own work on a small
 * request. The proxy needs only a few of the values (framing, content type); the client gets the lines as text.
 */
export class ResponseHeaders {
  private cached: IncomingHttpHeaders | undefined;

  constructor(
    /** The header lines, each preceded by CRLF (no CRLF after the last): latin1, byte for byte as received. */
    readonly block: string,
    /** Each line's name, lower-cased. */
    private readonly names: readonly string[],
    /** Where each line's CRLF starts in `block`. */
    private readonly starts: readonly number[],
  ) {}

  static empty(): ResponseHeaders {
    return new ResponseHeaders('', [], []);
  }

  get size(): number {
    return this.names.length;
  }

  /** The `i`th line's lower-cased name. */
  name(i: number): string {
    return this.names[i]!;
  }

  /** Lines `from` to `to` (exclusive), each with the CRLF before it, as one piece of the block. */
  lines(from: number, to: number): string {
    if (from >= to) return '';
    return this.block.slice(this.starts[from], to < this.starts.length ? this.starts[to] : this.block.length);
  }

  /** The `i`th line's value, without the optional whitespace around it. */
  value(i: number): string {
    // The name runs from after the CRLF to the colon, exactly: the parser checked the line's shape.
    let start = this.starts[i]! + 2 + this.names[i]!.length + 1;
    let end = this.lineEnd(i);
    while (start < end && isBlank(this.block.charCodeAt(start))) start++;
    while (end > start && isBlank(this.block.charCodeAt(end - 1))) end--;
    return this.block.slice(start, end);
  }

  has(name: string): boolean {
    return this.names.indexOf(name) !== -1;
  }

  /** A header's value (lower-cased name); a repeated one joined with ", " as in the object. */
  get(name: string): string | undefined {
    const first = this.names.indexOf(name);
    if (first === -1) return undefined;
    let value = this.value(first);
    for (let i = first + 1; i < this.names.length; i++) if (this.names[i] === name) value += `, ${this.value(i)}`;
    return value;
  }

  /** As Node's IncomingMessage has them: lower-cased names, repeats joined with ", ", set-cookie a list. */
  get object(): IncomingHttpHeaders {
    if (this.cached !== undefined) return this.cached;
    const headers: IncomingHttpHeaders = {};
    for (let i = 0; i < this.names.length; i++) {
      const name = this.names[i]!;
      const value = this.value(i);
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (LIST_HEADERS.has(name)) headers[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
      else headers[name] = `${String(prev)}, ${value}`;
    }
    this.cached = headers;
    return headers;
  }

  private lineEnd(i: number): number {
    return i + 1 < this.starts.length ? this.starts[i + 1]! : this.block.length;
  }
}

/** Spaces and tabs (RFC 9110 §5.6.3). */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}
