/**
 * A small body leaves in one buffer with its HTTP head: copying it costs less than corking the socket, queueing
 * the two pieces and writing them with `writev`. Larger bodies are not copied.
 */
export const JOIN_BODY_BYTES = 16 * 1024;

/**
 * A latin1 head (status or request line and headers, or a chunk's size line) and a body, and a latin1 tail (the
 * CRLF that ends a chunk), in one buffer.
 */
export function joinHeadAndBody(head: string, body: Buffer, tail = ''): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length + tail.length);
  // write(string, encoding) and set() rather than write(string, offset, encoding) and copy(): the same bytes
  // without the argument checks those overloads make on every call.
  out.write(head, 'latin1');
  out.set(body, head.length);
  if (tail.length > 0) out.write(tail, head.length + body.length, 'latin1');
  return out;
}
