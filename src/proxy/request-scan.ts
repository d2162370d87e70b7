/**
 * What the proxy needs from a Messages request body — is it JSON, which `model`, is it `stream: true` — read
 * without building it. Claude Code's requests are tens to hundreds of kilobytes (system prompt, tools, the whole
 * conversation); decoding one to a string and `JSON.parse`-ing it cost ~0.4 ms for a real 76 KB first turn,
 * on the path of every request, to read two top-level fields. This scanner checks the JSON grammar byte by byte
 * but jumps over the inside of each string with the native `indexOf` (strings are nearly all of the bytes):
 * ~20 µs for the same body.
 *
 * It accepts what `JSON.parse` accepts, with one exception it leaves to the upstream: raw control characters
 * (below 0x20) inside strings, which finding would mean visiting every byte of every string. The upstream
 * refuses those with its own 400. Duplicate keys resolve as in `JSON.parse`: the last one wins.
 */

export class RequestScanError extends Error {
  /** The body does not start with `{`: it may still be JSON (an array, a string), just not a request. */
  notAnObject = false;
}

export interface ScannedRequest {
  model: string | undefined;
  stream: boolean;
  /** A top-level `max_tokens` that is a non-negative integer (what a client key's token limit reserves). */
  maxTokens: number | undefined;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;

const MODEL = Buffer.from('model');
const STREAM = Buffer.from('stream');
const MAX_TOKENS = Buffer.from('max_tokens');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/** The characters that may follow a backslash in a JSON string. */
const ESCAPABLE = new Uint8Array(256);
for (const c of '"\\/bfnrtu') ESCAPABLE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function fail(buf: Buffer, at: number, what: string): never {
  const found = at >= buf.length ? 'end of input' : `'${String.fromCharCode(buf[at]!)}'`;
  throw new RequestScanError(`${what}, found ${found} at position ${at}`);
}

function skipWhitespace(buf: Buffer, at: number): number {
  while (at < buf.length && isWhitespace(buf[at]!)) at++;
  return at;
}

/**
 * The next backslash at or after a position. The scan only moves forward, so the answer is kept until the scan
 * passes it: each backslash is searched for once, however many strings lie between two of them (searching
 * afresh from every string would rescan the same stretch again and again).
 */
class Backslashes {
  private next = -2;
  /** Whether the string last read by stringEnd had any escape in it. */
  escaped = false;

  constructor(private readonly buf: Buffer) {}

  from(pos: number): number {
    if (this.next !== -1 && this.next < pos) this.next = this.buf.indexOf(BACKSLASH, pos);
    return this.next;
  }
}

/**
 * `at` is just past an opening quote. Returns the position of the closing quote. The quote is found with
 * `indexOf`; only the backslashes in between are visited, to check each escape and to tell an escaped quote
 * from a closing one.
 */
function stringEnd(buf: Buffer, at: number, slashes: Backslashes): number {
  let from = at;
  slashes.escaped = false;
  for (;;) {
    const quote = buf.indexOf(QUOTE, from);
    if (quote === -1) fail(buf, buf.length, 'unterminated string');
    let slash = slashes.from(from);
    if (slash === -1 || slash > quote) return quote;
    slashes.escaped = true;
    // Walk the escapes that come before this quote; one of them may escape the quote itself.
    let escapedQuote = false;
    while (slash !== -1 && slash < quote) {
      const next = buf[slash + 1]!;
      if (ESCAPABLE[next] !== 1) fail(buf, slash + 1, 'invalid escape in string');
      if (next === 0x75) {
        for (let i = slash + 2; i < slash + 6; i++) if (HEX[buf[i]!] !== 1) fail(buf, i, 'invalid \\u escape in string');
      }
      if (slash + 1 === quote) {
        escapedQuote = true;
        break;
      }
      slash = slashes.from(next === 0x75 ? slash + 6 : slash + 2);
    }
    if (!escapedQuote) return quote;
    from = quote + 1;
  }
}

function numberEnd(buf: Buffer, at: number): number {
  let i = at;
  if (buf[i] === MINUS) i++;
  if (buf[i] === 0x30) i++;
  else if (isDigit(buf[i]) && buf[i] !== 0x30) while (isDigit(buf[i])) i++;
  else fail(buf, i, 'expected a digit');
  if (buf[i] === 0x2e) {
    i++;
    if (!isDigit(buf[i])) fail(buf, i, 'expected a digit after the decimal point');
    while (isDigit(buf[i])) i++;
  }
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    i++;
    if (buf[i] === 0x2b || buf[i] === MINUS) i++;
    if (!isDigit(buf[i])) fail(buf, i, 'expected a digit in the exponent');
    while (isDigit(buf[i])) i++;
  }
  return i;
}

function literalEnd(buf: Buffer, at: number, word: Buffer): number {
  if (at + word.length > buf.length || buf.compare(word, 0, word.length, at, at + word.length) !== 0) fail(buf, at, 'expected a JSON value');
  return at + word.length;
}

function sameBytes(buf: Buffer, start: number, end: number, word: Buffer): boolean {
  return end - start === word.length && buf.compare(word, 0, word.length, start, end) === 0;
}

/** A string's text, given the positions of its quotes. Escapes are rare in model names: decoded only if present. */
function stringValue(buf: Buffer, open: number, close: number, hasEscape: boolean): string {
  return hasEscape ? (JSON.parse(buf.toString('utf8', open, close + 1)) as string) : buf.toString('utf8', open + 1, close);
}

/** What one top-level member sets: `model` (a string, or undefined for any other value), `stream`, `max_tokens`, or none. */
type MemberFact =
  | { key: 'model'; model: string | undefined }
  | { key: 'stream'; stream: boolean }
  | { key: 'max_tokens'; maxTokens: number | undefined }
  | undefined;

type TopKey = 'model' | 'stream' | 'max_tokens';

function topKeyOf(name: string): TopKey | undefined {
  return name === 'model' || name === 'stream' || name === 'max_tokens' ? name : undefined;
}

/** A number's value when it is a non-negative safe integer (as JSON.parse reads it: `1e3` is 1000), else undefined. */
function integerValue(buf: Buffer, start: number, end: number): number | undefined {
  const n = Number(buf.toString('latin1', start, end));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

interface KnownBody {
  buf: Buffer;
  /** The offset of each top-level member's key → its index in `members`. */
  starts: Map<number, number>;
  members: MemberFact[];
}

/**
 * Bodies already validated, kept so that a body ending in the same bytes as one of them is not scanned there
 * again. Claude Code's requests are mostly the same from turn to turn: the conversation grows, but the system
 * prompt and the tool definitions after it (~70 KB of the captured first turn, ~40 µs of scanning) do not. A
 * body is read as usual up to each top-level member; if everything from there to its end is byte for byte what
 * follows a top-level member of a known body, that part is valid JSON in the same place (the scanner's state at
 * a top-level member is always the same), and what it sets is known. A comparison is a `memcmp`.
 */
export class KnownBodies {
  /** Most recently used first. */
  private bodies: KnownBody[] = [];
  /** Bodies whose end was found known (for tests and diagnostics). */
  hits = 0;

  constructor(
    private readonly maxBodies = 8,
    /** Smaller bodies scan in a few µs: not worth keeping. */
    readonly minBytes = 16 * 1024,
    /** Larger ones are not kept either, to bound what this holds (at most maxBodies × maxBytes). */
    readonly maxBytes = 2 * 1024 * 1024,
  ) {}

  /** The facts of a known body's members from the one whose bytes `buf[from..]` repeat, if there is one. */
  suffixFrom(buf: Buffer, from: number): MemberFact[] | undefined {
    const tail = buf.length - from;
    for (let i = 0; i < this.bodies.length; i++) {
      const known = this.bodies[i]!;
      const k = known.buf.length - tail;
      const index = k >= 0 ? known.starts.get(k) : undefined;
      if (index === undefined || buf.compare(known.buf, k, known.buf.length, from, buf.length) !== 0) continue;
      if (i > 0) this.bodies.unshift(...this.bodies.splice(i, 1));
      this.hits++;
      return known.members.slice(index);
    }
    return undefined;
  }

  remember(body: KnownBody): void {
    this.bodies.unshift(body);
    if (this.bodies.length > this.maxBodies) this.bodies.pop();
  }
}

/**
 * Validate `buf` as one JSON value and read the top-level `model` and `stream`. Throws RequestScanError if it is
 * not JSON or not an object. With `knownBodies`, a body whose end repeats a known one is not scanned there, and a
 * large body scanned to its end becomes known.
 */
export function scanMessageRequest(buf: Buffer, knownBodies?: KnownBodies): ScannedRequest {
  const result: ScannedRequest = { model: undefined, stream: false, maxTokens: undefined };
  const slashes = new Backslashes(buf);
  let at = skipWhitespace(buf, 0);
  if (buf[at] !== OPEN_BRACE) {
    const err = new RequestScanError('request body must be a JSON object');
    err.notAnObject = true;
    throw err;
  }

  // Containers still open, innermost last: true for an object, false for an array.
  const stack: boolean[] = [];
  /** What the top-level key just read names, so its value can be kept. */
  let topKey: TopKey | undefined;
  const known = knownBodies !== undefined && buf.length >= knownBodies.minBytes ? knownBodies : undefined;
  /** This body as it will be remembered, built while it is read (only when it is one `known` keeps). */
  const learning: KnownBody | undefined = known && buf.length <= known.maxBytes ? { buf, starts: new Map(), members: [] } : undefined;
  /** Set when the rest of the body is a known one's: the scan is over. */
  let knownRest = false;

  // The loop reads one value at `at`, then the punctuation after it.
  for (;;) {
    at = skipWhitespace(buf, at);
    const c = buf[at];
    const depth = stack.length;
    const valueStart = at;
    // A later duplicate key replaces an earlier one, whatever its type (JSON.parse keeps the last).
    if (depth === 1 && topKey === 'model') result.model = undefined;
    else if (depth === 1 && topKey === 'stream') result.stream = false;
    else if (depth === 1 && topKey === 'max_tokens') result.maxTokens = undefined;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const isObject = c === OPEN_BRACE;
      stack.push(isObject);
      at = skipWhitespace(buf, at + 1);
      if (buf[at] === (isObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        stack.pop();
        at++;
      } else if (isObject) {
        at = readKey(at);
        if (knownRest) return result;
        continue;
      } else {
        continue; // the first element
      }
    } else if (c === QUOTE) {
      const close = stringEnd(buf, at + 1, slashes);
      if (depth === 1 && topKey === 'model') result.model = stringValue(buf, valueStart, close, slashes.escaped);
      at = close + 1;
    } else if (c === MINUS || isDigit(c)) {
      at = numberEnd(buf, at);
      if (depth === 1 && topKey === 'max_tokens') result.maxTokens = integerValue(buf, valueStart, at);
    } else if (c === 0x74) {
      at = literalEnd(buf, at, TRUE);
      if (depth === 1 && topKey === 'stream') result.stream = true;
    } else if (c === 0x66) {
      at = literalEnd(buf, at, FALSE);
    } else if (c === 0x6e) {
      at = literalEnd(buf, at, NULL);
    } else {
      fail(buf, at, 'expected a JSON value');
    }

    // After a value: a comma and the next element or key, or the end of one or more containers.
    for (;;) {
      if (stack.length === 0) {
        at = skipWhitespace(buf, at);
        if (at !== buf.length) fail(buf, at, 'unexpected data after the JSON value');
        if (learning !== undefined) {
          closeMember(learning);
          known!.remember(learning);
        }
        return result;
      }
      at = skipWhitespace(buf, at);
      const p = buf[at];
      const inObject = stack[stack.length - 1]!;
      if (p === COMMA) {
        at++;
        if (inObject) {
          at = readKey(skipWhitespace(buf, at));
          if (knownRest) return result;
        }
        break;
      }
      if (p === (inObject ? CLOSE_BRACE : CLOSE_BRACKET)) {
        stack.pop();
        at++;
        continue;
      }
      fail(buf, at, inObject ? "expected ',' or '}'" : "expected ',' or ']'");
    }
  }

  /** What the top-level member just read set, for remembering this body. */
  function closeMember({ members }: KnownBody): void {
    if (members.length === 0) return;
    const last = members.length - 1;
    if (topKey === 'model') members[last] = { key: 'model', model: result.model };
    else if (topKey === 'stream') members[last] = { key: 'stream', stream: result.stream };
    else if (topKey === 'max_tokens') members[last] = { key: 'max_tokens', maxTokens: result.maxTokens };
  }

  /** The rest of the body, from a top-level member on, repeats a known body: take what those members set. */
  function applyKnownRest(rest: readonly MemberFact[]): void {
    for (const fact of rest) {
      if (fact?.key === 'model') result.model = fact.model;
      else if (fact?.key === 'stream') result.stream = fact.stream;
      else if (fact?.key === 'max_tokens') result.maxTokens = fact.maxTokens;
    }
    knownRest = true;
  }

  /**
   * A key and its colon; notes whether it is one of the top-level keys the proxy reads. At a top-level member,
   * first asks whether the rest of the body is known (then returns -1 with `knownRest` set).
   */
  function readKey(from: number): number {
    if (stack.length === 1 && known !== undefined) {
      const rest = known.suffixFrom(buf, from);
      if (rest !== undefined) {
        applyKnownRest(rest);
        return -1;
      }
      if (learning !== undefined) {
        closeMember(learning);
        learning.starts.set(from, learning.members.length);
        learning.members.push(undefined);
      }
    }
    if (buf[from] !== QUOTE) fail(buf, from, 'expected a string key');
    const close = stringEnd(buf, from + 1, slashes);
    if (stack.length === 1) {
      topKey = sameBytes(buf, from + 1, close, MODEL) ? 'model' : sameBytes(buf, from + 1, close, STREAM) ? 'stream' : sameBytes(buf, from + 1, close, MAX_TOKENS) ? 'max_tokens' : undefined;
      // A key spelled with escapes ("mod\u0065l") is still that key.
      if (topKey === undefined && slashes.escaped) topKey = topKeyOf(stringValue(buf, from, close, true));
    }
    const colon = skipWhitespace(buf, close + 1);
    if (buf[colon] !== COLON) fail(buf, colon, "expected ':' after a key");
    return colon + 1;
  }
}
