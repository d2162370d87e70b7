import { randomBytes } from 'node:crypto';
import { createParser } from 'eventsource-parser';
import type { Upstream } from '../upstream/client.js';
import { requestResponse } from '../upstream/request.js';
import type { EndpointRuntime } from '../endpoints/endpoint.js';
import { upstreamRequestHeaders } from '../proxy/headers.js';
import { upstreamPath } from '../endpoints/upstream-url.js';
import { applyUsage, emptyUsage, type Usage } from '../proxy/sse.js';
import { toOpenAIRequest } from '../openai/request.js';
import { toAnthropicMessage } from '../openai/response.js';
import { StreamTranslator } from '../openai/stream.js';

/**
 * One health check: a real, tiny, streaming conversation whose answer can be verified (the model is asked to
 * echo a fresh nonce), sent the way live traffic is sent (same URL joining, headers and auth). A relay that
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
  const anthropicRequest = { model: endpoint.upstreamModel(model), max_tokens: opts.maxTokens, stream: true, messages: [{ role: 'user', content: checkPrompt(nonce) }] };
  const openai = endpoint.config.protocol === 'openai';
  // The same translation live traffic gets, for endpoints that speak OpenAI's protocol.
  const body = Buffer.from(JSON.stringify(openai ? toOpenAIRequest(anthropicRequest, { model: anthropicRequest.model, mapEffort: false }) : anthropicRequest));
  const key = endpoint.keys.pick(Number.POSITIVE_INFINITY);
  const headers = upstreamRequestHeaders(
    { 'content-type': 'application/json', accept: 'text/event-stream', 'x-qcc-health-check': 'check' },
    { key: key?.key, mode: openai ? 'bearer' : endpoint.config.auth_mode },
    body.length,
  );
  if (openai) delete headers['anthropic-version'];
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
    const res = await requestResponse(dispatcher, {
      origin: endpoint.target.origin,
      route: endpoint.route,
      path: upstreamPath(endpoint.target, openai ? '/v1/chat/completions' : '/v1/messages'),
      method: 'POST',
      headers,
      body,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    }, AbortSignal.timeout(opts.timeoutMs));
    result.status = res.statusCode;
    const contentType = String(res.headers['content-type'] ?? '');
    if (res.statusCode !== 200) {
      const errText = await res.text();
      result.error = `HTTP ${res.statusCode}: ${errText.slice(0, 200)}`;
    } else if (contentType.includes('text/event-stream')) {
      // OpenAI streams are read through the live translator, so a check sees what Claude Code would see.
      const translator = openai ? new StreamTranslator(model, { reasoning: 'drop' }) : undefined;
      const anthropicParser = createParser({ onEvent: (e) => onData(e.data, e.event) });
      const parser = translator ? createParser({ onEvent: (e) => anthropicParser.feed(translator.push(e.data)) }) : anthropicParser;
      const decoder = new TextDecoder();
      for await (const chunk of res.body) parser.feed(decoder.decode(chunk as Buffer, { stream: true }));
      if (translator?.complete) anthropicParser.feed(translator.finish());
      if (streamError) result.error = `stream error: ${streamError}`;
      else if (!sawStop) result.error = 'stream ended without message_stop';
    } else {
      // A relay that ignores `stream: true`: judge the JSON it sent instead.
      const raw = (await res.json()) as Record<string, unknown>;
      const json = (openai ? toAnthropicMessage(raw, model, { reasoning: 'drop' }) : raw) as { content?: { type?: string; text?: string }[]; usage?: unknown };
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
