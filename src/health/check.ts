import { randomBytes } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import type { Upstream } from '../upstream/client.js';
import { requestResponse } from '../upstream/request.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import { applyUsage, emptyUsage, type Usage } from '../protocols/messages/sse.js';
import { isUnsent, type MessagesCall, type ParsedRequest } from '../protocols/contract.js';
import { protocolNamed } from '../protocols/index.js';

/**
 * One health check: a real, tiny, streaming conversation whose answer can be verified (the model is asked to
 * echo a fresh nonce), sent the way live traffic is sent: through the endpoint's protocol (protocols/), with the
 * same URL, headers, auth, signing and answer translation. A relay that
 * answers 200 with an empty, wrong or error-laden body fails. Runs off the hot path, so it uses the
 * eventsource-parser library rather than the proxy's hand-written scanner.
 */

export interface CheckResult {
  endpoint: string;
  model: string;
  /** Epoch ms when the check started. */
  at: number;
  ok: boolean;
  status: number | null;
  /** Time to the first text token. */
  ttft_ms: number | null;
  total_ms: number;
  /** Output tokens per second after the first token. */
  tokens_per_s: number | null;
  correct: boolean;
  usage_present: boolean;
  usage: Usage | null;
  error: string | null;
}

export interface CheckOptions {
  timeoutMs: number;
  maxTokens: number;
  /** Injected for tests; a fresh random nonce otherwise. */
  nonce?: string;
}

/** Lower-case letters and digits only, compared case- and punctuation-insensitively. */
function normalise(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

export function checkPrompt(nonce: string): string {
  return `Reply with exactly: ${nonce}`;
}

export async function runHealthCheck(dispatcher: Upstream, endpoint: EndpointRuntime, model: string, opts: CheckOptions): Promise<CheckResult> {
  const at = Date.now();
  const started = performance.now();
  const nonce = opts.nonce ?? `QCC-${randomBytes(3).toString('hex').toUpperCase()}`;
  const result: CheckResult = {
    endpoint: endpoint.id,
    model,
    at,
    ok: false,
    status: null,
    ttft_ms: null,
    total_ms: 0,
    tokens_per_s: null,
    correct: false,
    usage_present: false,
    usage: null,
    error: null,
  };
  const anthropicRequest = { model, max_tokens: opts.maxTokens, stream: true, messages: [{ role: 'user', content: checkPrompt(nonce) }] };
  const requestBody = Buffer.from(JSON.stringify(anthropicRequest));
  const parsed: ParsedRequest = { json: () => ({ ...anthropicRequest }), model, stream: true, countTokens: false, messages: true, maxTokens: opts.maxTokens };
  const protocol = protocolNamed(endpoint.config.protocol);
  const call: MessagesCall = {
    upstream: dispatcher,
    endpoint,
    key: endpoint.keys.pick(Number.POSITIVE_INFINITY),
    client: { headers: { 'content-type': 'application/json', accept: 'text/event-stream', 'x-qcc-health-check': 'check', 'content-length': String(requestBody.length) } },
    method: 'POST',
    path: '/v1/messages',
    body: requestBody,
    parsed,
    accessKeyHeader: undefined,
    oauthClient: false,
  };
  let text = '';
  let sawStop = false;
  let firstTokenAt: number | undefined;
  const usage = emptyUsage();
  let streamError: string | undefined;

  const onData = (data: string, event: string | undefined) => {
    let parsed: { type?: string; delta?: { type?: string; text?: string }; message?: { usage?: unknown }; usage?: unknown; error?: { message?: string } };
    try {
      parsed = JSON.parse(data) as typeof parsed;
    } catch {
      return;
    }
    const type = event ?? parsed.type;
    if (type === 'content_block_delta' && parsed.delta?.type === 'text_delta') {
      firstTokenAt ??= performance.now();
      text += parsed.delta.text ?? '';
    } else if (type === 'message_start') {
      if (parsed.message?.usage) result.usage_present = true;
      applyUsage(usage, parsed.message?.usage, false);
    } else if (type === 'message_delta') {
      if (parsed.usage) result.usage_present = true;
      applyUsage(usage, parsed.usage, true);
    } else if (type === 'message_stop') {
      sawStop = true;
    } else if (type === 'error') {
      streamError ??= parsed.error?.message ?? 'error event';
    }
  };

  try {
    const prepared = await protocol.prepare(call);
    if (isUnsent(prepared)) throw new Error('refused' in prepared ? prepared.refused.body.toString('utf8').slice(0, 200) : prepared.failed);
    const translation = protocol.translation?.(call);
    const res = await requestResponse(dispatcher, {
      origin: endpoint.target.origin,
      route: endpoint.route,
      path: prepared.path,
      method: prepared.method,
      headers: prepared.headers,
      body: prepared.body,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    }, AbortSignal.timeout(opts.timeoutMs));
    result.status = res.statusCode;
    const contentType = String(res.headers['content-type'] ?? '');
    if (res.statusCode !== 200) {
      const errText = await res.text();
      const shown = translation ? translation.error(res.statusCode, Buffer.from(errText), res.headers).body.toString('utf8') : errText;
      result.error = `HTTP ${res.statusCode}: ${shown.slice(0, 200)}`;
    } else if (translation ? translation.streams(contentType) : contentType.includes('text/event-stream')) {
      // Translated streams are read through the live translator, so a check sees what Claude Code would see.
      const parser = createParser({ onEvent: (e) => onData(e.data, e.event) });
      const stream = translation?.stream();
      const decoder = new TextDecoder();
      for await (const chunk of res.body) parser.feed(stream ? stream.push(chunk as Buffer) : decoder.decode(chunk as Buffer, { stream: true }));
      if (stream) parser.feed(stream.finish());
      if (streamError) result.error = `stream error: ${streamError}`;
      else if (!sawStop) result.error = 'stream ended without message_stop';
    } else {
      // A relay that ignores `stream: true`: judge the JSON it sent instead.
      const raw = Buffer.from(await res.text());
      const json = (translation ? translation.message(raw) : JSON.parse(raw.toString('utf8'))) as { content?: { type?: string; text?: string }[]; usage?: unknown };
      firstTokenAt = performance.now();
      text = (json.content ?? []).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');
      result.usage_present = json.usage !== undefined;
      applyUsage(usage, json.usage, true);
      sawStop = true;
    }
  } catch (e: unknown) {
    result.error = e instanceof Error ? `${(e as NodeJS.ErrnoException).code ?? e.name}: ${e.message}` : String(e);
  }

  const ended = performance.now();
  result.total_ms = round(ended - started);
  if (firstTokenAt !== undefined) result.ttft_ms = round(firstTokenAt - started);
  if (result.usage_present) result.usage = usage;
  const generationS = firstTokenAt !== undefined ? (ended - firstTokenAt) / 1000 : 0;
  if (result.usage_present && usage.output_tokens > 0 && generationS > 0) result.tokens_per_s = round(usage.output_tokens / generationS);
  result.correct = text.length > 0 && normalise(text).includes(normalise(nonce));
  if (result.error === null && !result.correct) {
    result.error = text.length === 0 ? 'empty answer' : `wrong answer: expected ${nonce}, got "${text.slice(0, 60)}"`;
  }
  result.ok = result.error === null && result.correct;
  return result;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
