import type { IncomingHttpHeaders } from 'node:http';
import { HeaderBlock } from './header-block.js';
import { fieldValue } from './header-memo.js';

/**
 * A request's header lines as the front server read them (validated, no name repeated): looked up by name,
 * passed on as text (upstreamRequestLines in protocols/anthropic/headers.ts), and made into an object only for whoever asks
 * for `object`. Claude Code sends some twenty headers, and an object given that many names one by one turns into
 * a dictionary: building it was the largest part of reading a request head (~3 of ~4 µs).
 */
export class RequestLines extends HeaderBlock {
  constructor(
    block: string,
    /** Each line's name, lower-cased; no two alike. */
    readonly names: readonly string[],
    starts: readonly number[],
  ) {
    super(block, starts);
  }

  /** The value of the header named `name` (lower case), without the whitespace around it. */
  get(name: string): string | undefined {
    const i = this.names.indexOf(name);
    return i === -1 ? undefined : this.value(i);
  }

  has(name: string): boolean {
    return this.names.indexOf(name) !== -1;
  }

  /** Lower-cased names, trimmed values. */
  protected makeObject(): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    for (let i = 0; i < this.names.length; i++) headers[this.names[i]!] = this.value(i);
    return headers;
  }

  private value(i: number): string {
    // The name runs from after the CRLF to the colon, exactly (the head's grammar allows nothing between).
    return fieldValue(this.block, this.starts[i]! + 2 + this.names[i]!.length + 1, this.lineEnd(i));
  }
}
