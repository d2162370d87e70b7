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
const EVENT_PREFIX = Buffer.from('event:');
const DATA_PREFIX = Buffer.from('data:');
/** A line longer than this is not something we need to read whole (a huge delta); only its start matters. */
const MAX_CARRY = 256 * 1024;

const WANTS_DATA = new Set(['message_start', 'message_delta', 'error']);

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  return buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;
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

  private line(buf: Buffer, start: number, end: number): void {
    if (end === start) {
      if (this.lineHasContent) this.dispatch();
      return;
    }
    this.lineHasContent = true;
    if (startsWith(buf, start, end, EVENT_PREFIX)) {
      this.eventName = buf.toString('latin1', start + EVENT_PREFIX.length, end).trim();
    } else if (startsWith(buf, start, end, DATA_PREFIX) && WANTS_DATA.has(this.eventName)) {
      this.dataLines.push(buf.toString('utf8', start + DATA_PREFIX.length, end));
    }
  }

  private dispatch(): void {
    const name = this.eventName || 'message';
    this.events++;
    if (this.firstEvent === undefined) this.firstEvent = name;
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
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return; // a malformed usage event must not break forwarding; the figures simply stay as they were
    }
    const usage =
      name === 'message_start'
        ? ((parsed as JsonRecord).message as JsonRecord | undefined)?.usage
        : (parsed as JsonRecord).usage;
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

/** Usage from a complete non-streaming JSON body, or undefined when it has none. */
export function usageFromJson(body: Buffer): Usage | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as JsonRecord;
    if (typeof parsed.usage !== 'object' || parsed.usage === null) return undefined;
    const usage = emptyUsage();
    applyUsage(usage, parsed.usage, true);
    return usage;
  } catch {
    return undefined;
  }
}
