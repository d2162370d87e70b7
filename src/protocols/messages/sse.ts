/**
 * A side-copy reader of an Anthropic SSE stream. It never alters or delays the bytes (the caller forwards the
 * same chunk untouched); it only notes what the proxy must know: whether the stream ended properly
 * (`message_stop`), whether an `event: error` arrived, and the usage figures.
 *
 * Written by hand rather than with eventsource-parser because it runs on every chunk of every stream: it works
 * on Buffers with native `indexOf`, decodes only `event:` lines, and parses JSON only for the two or three
 * events a stream carries usage in. Other data lines (the deltas) are skipped without being decoded.
 */

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

export function emptyUsage(): Usage {
  return { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const COLON = 0x3a;
const LOWER_E = 0x65;
const LOWER_D = 0x64;
/** A line longer than this is not something we need to read whole (a huge delta); only its start matters. */
const MAX_CARRY = 256 * 1024;

/** The events whose names matter, by the length of the name: most lines (deltas) are rejected on length alone. */
const INTERESTING: ReadonlyMap<number, readonly Buffer[]> = new Map(
  [12, 13, 5].map((len) => [len, ['message_start', 'message_delta', 'message_stop', 'error'].filter((n) => n.length === len).map((n) => Buffer.from(n))]),
);

const WANTS_DATA = new Set(['message_start', 'message_delta', 'error']);

/** Events that carry the answer itself: until one arrives the client has nothing to show, so nothing is lost by holding. */
const CONTENT_EVENTS = new Set(['content_block_delta', 'message_delta', 'message_stop']);

/** The event name if it is one the scanner acts on, else a placeholder that matches nothing. */
function interestingName(buf: Buffer, start: number, end: number): string {
  let e = end;
  while (e > start && buf[e - 1] === SPACE) e--;
  const candidates = INTERESTING.get(e - start);
  if (candidates) for (const c of candidates) if (buf.compare(c, 0, c.length, start, e) === 0) return c.toString('latin1');
  return 'other';
}

type JsonRecord = Record<string, unknown>;

function numberField(obj: unknown, key: string): number | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const v = (obj as JsonRecord)[key];
  return typeof v === 'number' ? v : undefined;
}

export class SseScanner {
  /** Complete events seen so far (a blank line closes one). */
  events = 0;
  firstEvent: string | undefined;
  sawMessageStop = false;
  /** The first `event: error` payload, if any. */
  errorData: string | undefined;
  /** A content-bearing event (CONTENT_EVENTS) has been seen: the stream has started answering. */
  sawContent = false;
  /** An `event: error` came before any content: the stream failed while it could still be replaced. */
  errorBeforeContent = false;
  readonly usage: Usage = emptyUsage();
  private carry: Buffer | undefined;
  private eventName = '';
  private dataLines: string[] = [];
  private lineHasContent = false;

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(NEWLINE, start);
      if (nl === -1) break;
      const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
      this.line(buf, start, end);
      start = nl + 1;
    }
    if (start < buf.length) {
      const rest = buf.subarray(start);
      // Keep only the head of an over-long line: enough to recognise it, not enough to cost memory.
      this.carry = rest.length > MAX_CARRY ? Buffer.from(rest.subarray(0, MAX_CARRY)) : Buffer.from(rest);
    }
  }

  /**
   * One line. Per line this costs a byte test or two; only `event:` lines whose name has the length of an
   * interesting one are compared, and only the data of those events is decoded.
   */
  private line(buf: Buffer, start: number, end: number): void {
    if (end === start) {
      if (this.lineHasContent) this.dispatch();
      return;
    }
    this.lineHasContent = true;
    const first = buf[start];
    if (first === LOWER_E && end - start > 6 && buf[start + 5] === COLON) {
      let nameStart = start + 6;
      if (buf[nameStart] === SPACE) nameStart++;
      // Until content arrives every name is read (to see the first delta); after it, only the few that matter.
      this.eventName = this.sawContent ? interestingName(buf, nameStart, end) : buf.toString('latin1', nameStart, end).trim();
    } else if (first === LOWER_D && end - start >= 5 && buf[start + 4] === COLON && WANTS_DATA.has(this.eventName)) {
      this.dataLines.push(buf.toString('utf8', start + 5, end));
    }
  }

  private dispatch(): void {
    const name = this.eventName || 'message';
    this.events++;
    if (this.firstEvent === undefined) this.firstEvent = name;
    if (!this.sawContent) {
      if (CONTENT_EVENTS.has(name)) this.sawContent = true;
      else if (name === 'error') this.errorBeforeContent = true;
    }
    if (name === 'message_stop') this.sawMessageStop = true;
    else if (this.dataLines.length > 0) this.readData(name, this.dataLines.join('\n'));
    this.eventName = '';
    this.dataLines = [];
    this.lineHasContent = false;
  }

  private readData(name: string, data: string): void {
    if (name === 'error') {
      this.errorData ??= data.trim();
      return;
    }
    // Read the usage figures straight from the text: no JSON.parse on every stream.
    const usage = usageFieldsFromText(data);
    applyUsage(this.usage, usage, name === 'message_delta');
  }
}

/** Merge a usage object in. `message_delta` figures are cumulative, so they replace rather than add. */
export function applyUsage(target: Usage, usage: unknown, cumulative: boolean): void {
  for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
    const v = numberField(usage, key);
    if (v === undefined) continue;
    target[key] = cumulative ? v : Math.max(target[key], v);
  }
}

const USAGE_KEY = Buffer.from('"usage"');
const USAGE_FIELDS = ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const;
const QUOTED_FIELDS = USAGE_FIELDS.map((f) => `"${f}"`);

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The unsigned integer after the first `"key"` in `text` that is followed by a colon and digits (as the pattern
 * `"key"\s*:\s*(\d+)` would find it), or -1. Written out because it runs for the two or three usage-carrying
 * events of every stream, four fields each: a regular expression's match array per field was most of its cost.
 */
function integerField(text: string, quotedKey: string): number {
  for (let at = text.indexOf(quotedKey); at !== -1; at = text.indexOf(quotedKey, at + 1)) {
    let i = at + quotedKey.length;
    while (isJsonSpace(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) !== 0x3a) continue;
    i++;
    while (isJsonSpace(text.charCodeAt(i))) i++;
    let value = -1;
    for (let c = text.charCodeAt(i); c >= 0x30 && c <= 0x39; c = text.charCodeAt(++i)) value = (value < 0 ? 0 : value * 10) + (c - 0x30);
    if (value >= 0) return value;
  }
  return -1;
}

/**
 * The usage numbers in a piece of JSON text, read after its last `"usage"` key. In Anthropic's messages and
 * stream events `usage` is the last field (after `content`, where a tool input could hold a "usage" key of its
 * own), and inside a JSON string a quote is escaped, so the last `"usage"` is the one. Only the fields found
 * are returned; malformed text simply yields none.
 */
export function usageFieldsFromText(text: string): Partial<Usage> | undefined {
  const at = text.lastIndexOf('"usage"');
  if (at === -1) return undefined;
  const tail = text.slice(at);
  let usage: Partial<Usage> | undefined;
  for (let i = 0; i < USAGE_FIELDS.length; i++) {
    const value = integerField(tail, QUOTED_FIELDS[i]!);
    if (value >= 0) (usage ??= {})[USAGE_FIELDS[i]!] = value;
  }
  return usage;
}

const FIELD_BYTES = USAGE_FIELDS.map((f) => Buffer.from(f));

/** Whether `buf` holds `"field"` at `at` (the opening quote there). */
function quotedFieldAt(buf: Buffer, at: number, field: Buffer): boolean {
  const end = at + 1 + field.length;
  if (end >= buf.length || buf[end] !== 0x22) return false;
  for (let i = 0; i < field.length; i++) if (buf[at + 1 + i] !== field[i]) return false;
  return true;
}

/**
 * Usage from a complete non-streaming JSON body, or undefined when it has none: the same figures
 * usageFieldsFromText finds, read from the bytes after the last `"usage"` without decoding them to a string.
 * Each field is the first `"field"\s*:\s*(\d+)` there, as the pattern would find it.
 */
export function usageFromJson(body: Buffer): Usage | undefined {
  const at = body.lastIndexOf(USAGE_KEY);
  if (at === -1) return undefined;
  let usage: Usage | undefined;
  /** Bit f set: field f has its value (the first occurrence counts). */
  let found = 0;
  for (let q = body.indexOf(0x22, at + USAGE_KEY.length); q !== -1; q = body.indexOf(0x22, q + 1)) {
    for (let f = 0; f < FIELD_BYTES.length; f++) {
      if (found & (1 << f) || !quotedFieldAt(body, q, FIELD_BYTES[f]!)) continue;
      let i = q + FIELD_BYTES[f]!.length + 2;
      while (isJsonSpace(body[i]!)) i++;
      if (body[i] !== 0x3a) break;
      i++;
      while (isJsonSpace(body[i]!)) i++;
      let value = -1;
      for (let c = body[i]!; c >= 0x30 && c <= 0x39; c = body[++i]!) value = (value < 0 ? 0 : value * 10) + (c - 0x30);
      if (value >= 0) {
        found |= 1 << f;
        (usage ??= emptyUsage())[USAGE_FIELDS[f]!] = value;
      }
      break;
    }
  }
  return usage;
}
