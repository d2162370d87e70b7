import type { IncomingHttpHeaders } from 'node:http';
import { fieldValue } from './header-memo.js';

/**
 * A request's header lines as the front server read them (validated, no name repeated): looked up by name,
 * passed on as text (upstreamRequestLines in proxy/headers.ts), and made into an object only for whoever asks
 * for `object`. Claude Code sends some twenty headers, and an object given that many names one by one turns into
 * a dictionary: building it was the largest part of reading a request head (~3 of ~4 µs).
 */
export class RequestLines {
  private cached: IncomingHttpHeaders | undefined;

  constructor(
    /** The lines, each preceded by CRLF (none after the last), latin1. */
    readonly block: string,
    /** Each line's name, lower-cased; no two alike. */
    readonly names: readonly string[],
    /** Where each line's CRLF starts in `block`. */
    readonly starts: readonly number[],
  ) {}

  /** The value of the header named `name` (lower case), without the whitespace around it. */
  get(name: string): string | undefined {
    const i = this.names.indexOf(name);
    return i === -1 ? undefined : this.value(i);
  }

  has(name: string): boolean {
    return this.names.indexOf(name) !== -1;
  }

  /** Lines `from` to `to` (exclusive), each with the CRLF before it, as one piece of the block. */
  lines(from: number, to: number): string {
    if (from >= to) return '';
    return this.block.slice(this.starts[from], to < this.starts.length ? this.starts[to] : this.block.length);
  }

  /** As Node's IncomingMessage has them: lower-cased names, trimmed values. */
  get object(): IncomingHttpHeaders {
    if (this.cached !== undefined) return this.cached;
    const headers: IncomingHttpHeaders = {};
    for (let i = 0; i < this.names.length; i++) headers[this.names[i]!] = this.value(i);
    this.cached = headers;
    return headers;
  }

  private value(i: number): string {
    // The name runs from after the CRLF to the colon, exactly (the head's grammar allows nothing between).
    const colon = this.starts[i]! + 2 + this.names[i]!.length;
    const end = i + 1 < this.starts.length ? this.starts[i + 1]! : this.block.length;
    return fieldValue(this.block, colon + 1, end);
  }
}
