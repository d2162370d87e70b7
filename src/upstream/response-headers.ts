import type { IncomingHttpHeaders } from 'node:http';
import { fieldValue } from '../server/header-memo.js';
import { HeaderBlock } from '../server/header-block.js';

/** Headers that may appear more than once and must stay a list (the rest are joined with ", ", as Node does). */
const LIST_HEADERS = new Set(['set-cookie']);

/**
 * A response's header lines as they arrived, already validated by the parser: looked up by name, handed on as
 * text, and turned into an object only for whoever asks for one.
 *
 * Why not an object from the start: the real API answers with two dozen headers (rate limits, request id, CDN),
 * and an object given that many names one by one turns into a dictionary. Building it, copying it without the
 * hop-by-hop ones and writing it back out cost ~15 µs a response, most of the proxy's own work on a small
 * request. The proxy needs only a few of the values (framing, content type); the client gets the lines as text.
 * Not even the names are made into strings: a line is found by comparing its name's length, then its bytes,
 * with the lower-case name asked for (slicing and lower-casing 25 names cost ~1.9 µs; this, almost nothing).
 */
export class ResponseHeaders extends HeaderBlock {
  constructor(
    block: string,
    starts: readonly number[],
    /** Where each line's colon is in `block` (its name runs from its start + 2 to there, exactly). */
    private readonly colons: readonly number[],
  ) {
    super(block, starts);
  }

  /** No lines; its object is frozen, so one can be shared. */
  static empty(): ResponseHeaders {
    const headers = new ResponseHeaders('', [], []);
    headers.preset(Object.freeze({}));
    return headers;
  }

  /** Whether the `i`th line's name is `lowerName` (given in lower case), in any case. */
  nameIs(i: number, lowerName: string): boolean {
    return this.nameLength(i) === lowerName.length && this.startsAs(this.starts[i]! + 2, lowerName);
  }

  /** Whether the `i`th line's name begins with `lowerPrefix` (given in lower case), in any case. */
  nameStartsWith(i: number, lowerPrefix: string): boolean {
    return this.nameLength(i) >= lowerPrefix.length && this.startsAs(this.starts[i]! + 2, lowerPrefix);
  }

  /** The length of the `i`th line's name: a cheap first test before nameIs. */
  nameLength(i: number): number {
    return this.colons[i]! - this.starts[i]! - 2;
  }

  /** The `i`th line's name, lower-cased. */
  name(i: number): string {
    return this.block.slice(this.starts[i]! + 2, this.colons[i]).toLowerCase();
  }

  /** The `i`th line's value, without the optional whitespace around it. */
  value(i: number): string {
    return fieldValue(this.block, this.colons[i]! + 1, this.lineEnd(i));
  }

  /** The first `name` line's value as it came, white space included (framing checks need the exact bytes). */
  untrimmed(name: string): string | undefined {
    const i = this.indexOf(name, 0);
    return i === -1 ? undefined : this.block.slice(this.colons[i]! + 1, this.lineEnd(i));
  }

  has(name: string): boolean {
    return this.indexOf(name, 0) !== -1;
  }

  /** A header's value (name in lower case); a repeated one joined with ", " as in the object. */
  get(name: string): string | undefined {
    let i = this.indexOf(name, 0);
    if (i === -1) return undefined;
    let value = this.value(i);
    while ((i = this.indexOf(name, i + 1)) !== -1) value += `, ${this.value(i)}`;
    return value;
  }

  /** Lower-cased names, repeats joined with ", ", set-cookie a list. */
  protected makeObject(): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    for (let i = 0; i < this.starts.length; i++) {
      const name = this.name(i);
      const value = this.value(i);
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (LIST_HEADERS.has(name)) headers[name] = Array.isArray(prev) ? [...prev, value] : [prev, value];
      else headers[name] = `${String(prev)}, ${value}`;
    }
    return headers;
  }

  /** Whether `block` at `at` spells `lower` in any case. */
  private startsAs(at: number, lower: string): boolean {
    for (let k = 0; k < lower.length; k++) {
      const c = this.block.charCodeAt(at + k);
      const want = lower.charCodeAt(k);
      // A letter's upper case is 32 below its lower case; nothing else in a token differs by case.
      if (c !== want && !(c >= 0x41 && c <= 0x5a && c + 0x20 === want)) return false;
    }
    return true;
  }

  private indexOf(name: string, from: number): number {
    for (let i = from; i < this.starts.length; i++) if (this.nameIs(i, name)) return i;
    return -1;
  }
}
