import { brotliDecompress, gunzip, inflate } from 'node:zlib';

/**
 * Decoding an endpoint's compressed answer, which qcc does only to read it (usage for accounting, or a JSON
 * answer replayed as the stream the client asked for). The bytes are untrusted: 1 MB of gzip can inflate to
 * 1 GiB. So decoding runs on libuv's thread pool (zlib's async API: never on the event loop) and stops at
 * `maxBytes` of output (`maxOutputLength`: zlib gives up as soon as the output would pass it, so memory is
 * bounded too). What goes to the client is never decoded: it passes as it came.
 */

/** The most qcc decodes of one answer: a 64k-token answer is ~0.3 MB of JSON, so this is generous. */
export const MAX_DECODED_BYTES = 8 * 1024 * 1024;

export class DecodeError extends Error {
  constructor(
    message: string,
    /** The decoded answer would exceed the limit (a compression bomb, or simply too large to read). */
    readonly tooLarge: boolean,
  ) {
    super(message);
  }
}

type Decoder = typeof gunzip;

function decoderFor(encoding: string): Decoder | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return gunzip;
    case 'deflate':
      return inflate;
    case 'br':
      return brotliDecompress as Decoder;
    default:
      return undefined;
  }
}

/** `Content-Encoding` as one lower-case coding; `identity` when absent. A list of codings is not decoded. */
export function contentCoding(value: string | undefined): string {
  return value === undefined ? 'identity' : value.trim().toLowerCase() || 'identity';
}

export function decodeBody(body: Buffer, encoding: string | undefined, maxBytes = MAX_DECODED_BYTES): Promise<Buffer> {
  const coding = contentCoding(encoding);
  if (coding === 'identity') {
    return body.length > maxBytes ? Promise.reject(new DecodeError(`answer of ${body.length} bytes is over ${maxBytes}`, true)) : Promise.resolve(body);
  }
  const decode = decoderFor(coding);
  if (decode === undefined) return Promise.reject(new DecodeError(`unsupported content-encoding "${coding}"`, false));
  return new Promise((resolve, reject) => {
    decode(body, { maxOutputLength: maxBytes }, (err, out) => {
      if (!err) return resolve(out);
      const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError;
      reject(new DecodeError(tooLarge ? `decoded answer would be over ${maxBytes} bytes (${coding}, ${body.length} bytes compressed)` : `${coding}: ${err.message}`, tooLarge));
    });
  });
}
