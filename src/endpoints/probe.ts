import type { Dispatcher } from 'undici';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import { upstreamPath } from '../proxy/upstream-url.js';
import type { EndpointRuntime } from './endpoint.js';

/** The model a check uses when the endpoint does not restrict models: cheap and widely served. */
export const DEFAULT_CHECK_MODEL = 'claude-haiku-4-5-20251001';

export interface ProbeResult {
  ok: boolean;
  status: number | undefined;
  ms: number;
  error?: string;
}

/**
 * A minimal real conversation (`max_tokens: 1`), sent the way live traffic is (same URL joining, same
 * headers and auth). A 200 that is not a message does not pass. Never throws.
 */
export async function probeEndpoint(dispatcher: Dispatcher, endpoint: EndpointRuntime, timeoutMs = 15_000): Promise<ProbeResult> {
  const started = performance.now();
  const model = endpoint.upstreamModel(endpoint.config.models[0] ?? DEFAULT_CHECK_MODEL);
  const body = Buffer.from(JSON.stringify({ model, max_tokens: 1, messages: [{ role: 'user', content: 'ping' }] }));
  const key = endpoint.keys.pick(Number.POSITIVE_INFINITY);
  const headers = upstreamRequestHeaders(
    { 'content-type': 'application/json', 'x-qcc-health-check': 'recovery' },
    { key: key?.key, mode: endpoint.config.auth_mode },
    body.length,
  );
  try {
    const res = await dispatcher.request({
      origin: endpoint.target.origin,
      path: upstreamPath(endpoint.target, '/v1/messages'),
      method: 'POST',
      headers,
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    const ms = performance.now() - started;
    if (res.statusCode !== 200) return { ok: false, status: res.statusCode, ms, error: `HTTP ${res.statusCode}` };
    const parsed = JSON.parse(text) as { type?: unknown };
    return parsed.type === 'message' ? { ok: true, status: 200, ms } : { ok: false, status: 200, ms, error: 'answer is not a message' };
  } catch (e: unknown) {
    return { ok: false, status: undefined, ms: performance.now() - started, error: e instanceof Error ? e.message : String(e) };
  }
}
