import type { EventStreamCodec } from '@smithy/core/event-streams';
import type { Message } from '@smithy/types';

/**
 * AWS event-stream framing (application/vnd.amazon.eventstream): each message is a 4-byte total length, a 4-byte
 * header length, a prelude CRC, headers, payload and a message CRC. The codec (@smithy/core's EventStreamCodec)
 * checks both CRCs and parses the headers; what it needs is one whole message at a time, which is all this does:
 * cut the upstream's chunks at message boundaries. The library's own splitter (getChunkedStream) reads an async
 * iterable; the proxy is fed chunk by chunk from its exchange callbacks, so the cut is done here, bounded.
 */

/** Largest message accepted: Bedrock's chunks are a few kilobytes; anything near this is not a chunk. */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Prelude (8) + prelude CRC (4) + message CRC (4). */
const MIN_MESSAGE_BYTES = 16;

/**
 * The codec, loaded on first need: a qcc without Bedrock endpoints (and every CLI command) does not pay the ~30 ms
 * its module takes to load. Bedrock's prepare waits for it, so a stream never finds it missing.
 */
let codec: EventStreamCodec | undefined;
let loading: Promise<void> | undefined;

/** Undefined once the codec is loaded; else a promise of it. */
export function eventStreamsReady(): Promise<void> | undefined {
  if (codec !== undefined) return undefined;
  loading ??= import('@smithy/core/event-streams').then((m) => {
    codec = new m.EventStreamCodec(
      (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
      (text: string) => Buffer.from(text, 'utf8'),
    );
  });
  return loading;
}

function loadedCodec(): EventStreamCodec {
  if (codec === undefined) throw new Error('the event-stream codec is not loaded: await eventStreamsReady() first');
  return codec;
}

export class EventStreamError extends Error {}

export class EventStreamSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** Bytes in; every message they complete out, decoded and CRC-checked. Throws EventStreamError on bad framing. */
  push(chunk: Buffer): Message[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Message[] = [];
    while (this.pendingBytes >= 4) {
      const head = this.pending[0]!.length >= 4 ? this.pending[0]! : this.joined();
      const total = head.readUInt32BE(0);
      if (total < MIN_MESSAGE_BYTES || total > MAX_MESSAGE_BYTES) throw new EventStreamError(`event-stream message of ${total} bytes (allowed ${MIN_MESSAGE_BYTES}..${MAX_MESSAGE_BYTES})`);
      if (this.pendingBytes < total) break;
      const all = this.joined();
      try {
        out.push(loadedCodec().decode(all.subarray(0, total)));
      } catch (e: unknown) {
        throw new EventStreamError(`malformed event-stream message: ${(e as Error).message}`);
      }
      const rest = all.subarray(total);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    return out;
  }

  /** Bytes of a message begun and never finished. */
  get leftover(): number {
    return this.pendingBytes;
  }

  private joined(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0]!;
  }
}

/** A string header of a message (":message-type", ":event-type", ":exception-type"). */
export function stringHeader(message: Message, name: string): string | undefined {
  const h = message.headers[name];
  return h !== undefined && h.type === 'string' ? h.value : undefined;
}

/** One message as bytes (the simulator's side, and tests). */
export function encodeMessage(headers: Record<string, string>, body: Uint8Array): Uint8Array {
  const tagged: Message['headers'] = {};
  for (const [name, value] of Object.entries(headers)) tagged[name] = { type: 'string', value };
  return loadedCodec().encode({ headers: tagged, body });
}
