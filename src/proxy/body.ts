import { IncomingMessage } from 'node:http';
import { ProxyError } from '../errors.js';
import type { ClientRequest } from '../server/client.js';

/**
 * Read the whole request body, counting bytes as they arrive (a `content-length` header is a claim, not a
 * fact). The body is kept as one Buffer so that every attempt can replay exactly the same bytes.
 */
export function readBody(req: ClientRequest, maxBytes: number): Promise<Buffer> {
  if (!(req instanceof IncomingMessage)) {
    // qcc's front server collects the body itself, exactly Content-Length bytes (larger ones never reach here
    // unless the limit was lowered by a reload in between).
    return req.contentLength > maxBytes ? Promise.reject(tooLarge(maxBytes)) : req.body;
  }
  return readStream(req, maxBytes);
}

/** The whole body if it is already at hand and within the limit (then no promise need be waited on). */
export function bodyAtHand(req: ClientRequest, maxBytes: number): Buffer | undefined {
  if (req instanceof IncomingMessage) return undefined;
  return req.bodyNow !== undefined && req.bodyNow.length <= maxBytes ? req.bodyNow : undefined;
}

function readStream(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      req.resume();
      return reject(tooLarge(maxBytes));
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      total += chunk.length;
      if (total > maxBytes) {
        failed = true;
        chunks.length = 0;
        return reject(tooLarge(maxBytes));
      }
      chunks.push(chunk);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
      failed = true;
    });
    // A client that hangs up mid-upload: settle now rather than leave the request waiting forever.
    req.on('close', () => {
      if (!ended && !failed) {
        failed = true;
        reject(new Error('client closed the connection before sending the whole body'));
      }
    });
  });
}

function tooLarge(maxBytes: number): ProxyError {
  return new ProxyError('bodyTooLarge', `request body exceeds the proxy's limit of ${maxBytes} bytes`);
}
