import type { IncomingHttpHeaders } from 'node:http';

/**
 * Header lines kept as the text they arrived in: the block (each line preceded by CRLF, none after the last,
 * latin1) and where each line starts. The request and response sides (server/request-lines.ts,
 * upstream/response-headers.ts) add how they find a line's name; both pass lines on by slicing the block, and
 * make Node's object of them only when something asks.
 */
export abstract class HeaderBlock {
  private cached: IncomingHttpHeaders | undefined;

  constructor(
    readonly block: string,
    /** Where each line's CRLF starts in `block`. */
    readonly starts: readonly number[],
  ) {}

  get size(): number {
    return this.starts.length;
  }

  /** Lines `from` to `to` (exclusive), each with the CRLF before it, as one piece of the block. */
  lines(from: number, to: number): string {
    if (from >= to) return '';
    return this.block.slice(this.starts[from], to < this.starts.length ? this.starts[to] : this.block.length);
  }

  /** As Node's IncomingMessage has them, made once. */
  get object(): IncomingHttpHeaders {
    return (this.cached ??= this.makeObject());
  }

  /** Start with this object instead (a frozen one, for an instance that is shared). */
  protected preset(object: IncomingHttpHeaders): void {
    this.cached = object;
  }

  protected abstract makeObject(): IncomingHttpHeaders;

  /** Where the `i`th line ends (the next one's CRLF, or the end of the block). */
  protected lineEnd(i: number): number {
    return i + 1 < this.starts.length ? this.starts[i + 1]! : this.block.length;
  }
}
