import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ExchangeController, Upstream, UpstreamRequest } from './client.js';

/**
 * A promise-and-stream view of one exchange, for callers off the hot path (health checks) that want to read
 * a response at their own pace: it resolves at the response head with the body as a Readable whose
 * backpressure pauses the upstream connection. Going through the same client as live traffic means a check
 * exercises exactly what a request would.
 */

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Readable;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function requestResponse(upstream: Upstream, req: UpstreamRequest, signal?: AbortSignal): Promise<UpstreamResponse> {
  return new Promise<UpstreamResponse>((resolve, reject) => {
    let controller: ExchangeController | undefined;
    let body: Readable | undefined;
    const onAbort = () => controller?.abort(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal?.removeEventListener('abort', onAbort);
    upstream.dispatch(req, {
      onRequestStart(c) {
        controller = c;
      },
      onResponseStart(c, statusCode, headers) {
        const stream = new Readable({ read: () => c.resume() });
        body = stream;
        resolve({
          statusCode,
          headers: headers.object,
          body: stream,
          text: async () => (await readAll(stream)).toString('utf8'),
          json: async () => JSON.parse((await readAll(stream)).toString('utf8')) as unknown,
        });
      },
      onResponseData(c, chunk) {
        if (body && !body.push(chunk)) c.pause();
      },
      onResponseEnd() {
        settle();
        body?.push(null);
      },
      onResponseError(_c, err) {
        settle();
        if (body) body.destroy(err);
        else reject(err);
      },
    });
  });
}
