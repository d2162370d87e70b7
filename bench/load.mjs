// The load generator: undici, one pool per target, a fixed number of requests at a fixed concurrency.
import { Agent } from 'undici';

const CONTENT_EVENT = Buffer.from('event: content_block_delta');

export const agent = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 30_000 });

/**
 * Send `n` requests with `concurrency` in flight. `body` is the request body, or a function of the request's
 * number that makes each one. For streams, records time to the first event and counts events. Returns
 * per-request latencies (ms), first-event times, bytes and failures.
 */
export async function load({ url, body, n, concurrency, model = 'bench', headers = {}, keepBodies = false }) {
  const latencies = [];
  const firstEvents = [];
  // The first content (`content_block_delta`): what a client can show; qcc holds a stream until it (#22).
  const firstContents = [];
  const bodies = [];
  let failures = 0;
  let bytes = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const payload = typeof body === 'function' ? body(next) : body;
      next++;
      const t0 = performance.now();
      try {
        const res = await agent.request({
          origin: url,
          path: '/v1/messages',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': 'bench-client', ...headers },
          body: payload,
        });
        let first;
        let firstContent;
        const chunks = [];
        for await (const chunk of res.body) {
          first ??= performance.now() - t0;
          if (firstContent === undefined && chunk.includes(CONTENT_EVENT)) firstContent = performance.now() - t0;
          bytes += chunk.length;
          if (keepBodies) chunks.push(chunk);
        }
        latencies.push(performance.now() - t0);
        if (first !== undefined) firstEvents.push(first);
        if (firstContent !== undefined) firstContents.push(firstContent);
        if (res.statusCode !== 200) failures++;
        if (keepBodies) bodies.push({ headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
      } catch {
        failures++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { latencies, firstEvents, firstContents, failures, bytes, rps: n / seconds, bodies };
}

export function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export function median(values) {
  return percentile(values, 50);
}

export function messageBody(model, { stream = false, padBytes = 0 } = {}) {
  const content = padBytes > 0 ? 'x'.repeat(padBytes) : 'hello';
  return JSON.stringify({ model, max_tokens: 64, stream, messages: [{ role: 'user', content }] });
}

/**
 * The captured Claude Code first turn (76 KB) as the next turn of a conversation would be: the same system prompt
 * and tools, one more user message, different each time (as qcc sees it across a session's turns).
 */
export function claudeCodeTurns(captured, model) {
  const text = JSON.stringify({ ...captured, model });
  const at = text.indexOf('],"system"');
  if (at === -1) throw new Error('the captured request no longer has messages followed by system');
  return (i) => `${text.slice(0, at)},{"role":"user","content":"and turn ${i}?"}${text.slice(at)}`;
}
