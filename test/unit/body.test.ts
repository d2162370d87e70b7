import { describe, expect, it } from 'vitest';
import { bodyAtHand, readBody } from '../../src/proxy/body.js';
import type { BufferedRequest } from '../../src/server/client.js';

/** A request as the front server hands it over when the whole body came with the head. */
function arrived(body: Buffer): BufferedRequest {
  return { method: 'POST', url: '/v1/messages', headers: {}, contentLength: body.length, bodyNow: body, body: Promise.resolve(body) };
}

describe('request bodies', () => {
  it('takes a body that came with its head at once, when it is within the limit', () => {
    const body = Buffer.from('{"model":"m"}');
    expect(bodyAtHand(arrived(body), 1024)).toBe(body);
  });

  it('leaves a body over the limit (lowered by a reload since the head was read) to readBody, which refuses it', async () => {
    const req = arrived(Buffer.alloc(2048, 0x20));
    expect(bodyAtHand(req, 1024)).toBeUndefined();
    await expect(readBody(req, 1024)).rejects.toMatchObject({ code: 'bodyTooLarge' });
  });

  it('has nothing at hand for a body still arriving', () => {
    const req: BufferedRequest = { method: 'POST', url: '/v1/messages', headers: {}, contentLength: 10, body: new Promise(() => undefined) };
    expect(bodyAtHand(req, 1024)).toBeUndefined();
  });
});
