import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { errorTypeForStatus, type SimBehavior, type SimUsage } from './behavior.js';
import { handleChatCompletions, openAIErrorBody } from './openai.js';
import type { BedrockSimOptions, CloudState, VertexSimOptions } from './clouds.js';
import { eventStreamsReady } from '../protocols/bedrock/event-stream.js';

/**
 * A scripted Anthropic Messages upstream on loopback: real SSE event sequences and error shapes, with knobs for
 * failures. It serves the tests, the benchmarks and `qcc proxy start --demo`.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface SimulatorOptions {
  name?: string;
  behavior?: SimBehavior;
  script?: SimBehavior[];
  /** Keep every request received (tests); off for benchmarks and the demo. */
  record?: boolean;
  /** Serve https with this certificate (tests of TLS endpoints); plain http otherwise. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Also be Amazon Bedrock, checking SigV4 signatures made with these credentials (clouds.ts). */
  bedrock?: BedrockSimOptions;
  /** Also be Google Vertex AI and its token endpoint (`POST /token`), for this service account (clouds.ts). */
  vertex?: VertexSimOptions;
}

export interface Simulator {
  readonly name: string;
  readonly url: string;
  readonly port: number;
  /** Default behaviour; mutate freely between requests. */
  behavior: SimBehavior;
  /** Per-call overrides for `/v1/messages`, consumed in order. */
  script: SimBehavior[];
  requests: RecordedRequest[];
  /** Number of `/v1/messages` calls received. */
  messageCalls: number;
  /** Responses whose client (the proxy) went away before they were complete. */
  abortedResponses: number;
  /** The simulated clouds' token and credential counters (see clouds.ts). */
  cloud: CloudState;
  close(): Promise<void>;
}

export interface MessageRequest {
  model?: unknown;
  stream?: unknown;
  messages?: unknown;
  tools?: unknown;
}

/**
 * How an answer's events are written: Anthropic SSE here; the cloud simulators (clouds.ts) frame the same
 * events as AWS event-stream messages, or as Vertex's SSE.
 */
export interface Framer {
  contentType: string;
  event(name: string, data: unknown): string | Uint8Array;
}

export const SSE_FRAMER: Framer = { contentType: 'text/event-stream; charset=utf-8', event: (name, data) => sse(name, data) };

/** What a Messages answer holds: text, or tool calls (stop_reason "tool_use"). */
export interface SimAnswer {
  model: string;
  text: string;
  tools: { id: string; name: string; input: string }[];
  usage: SimUsage;
}

const HEALTH_ECHO = /reply with exactly[:\s]+([^\n]+?)\s*$/i;

function lastUserText(body: MessageRequest): string {
  if (!Array.isArray(body.messages)) return '';
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i] as { role?: unknown; content?: unknown };
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content
        .map((b: { type?: unknown; text?: unknown }) => (b.type === 'text' && typeof b.text === 'string' ? b.text : ''))
        .join('\n');
    }
  }
  return '';
}

/** The text of the tool results the last user turn carries, if it carries any (the second half of a tool round trip). */
function toolResultText(body: MessageRequest): string | undefined {
  if (!Array.isArray(body.messages)) return undefined;
  const last = body.messages.at(-1) as { role?: unknown; content?: unknown } | undefined;
  if (last?.role !== 'user' || !Array.isArray(last.content)) return undefined;
  const results = (last.content as { type?: unknown; content?: unknown }[]).filter((b) => b.type === 'tool_result');
  if (results.length === 0) return undefined;
  const text = (c: unknown): string =>
    typeof c === 'string' ? c : Array.isArray(c) ? c.map((p: { type?: unknown; text?: unknown }) => (p.type === 'text' ? String(p.text) : '')).join('\n') : '';
  return results.map((r) => text(r.content)).join('\n');
}

/** Tool calls to answer with: the behaviour's, when the request offers every one of those tools and is not a result. */
function toolCallsFor(body: MessageRequest, behavior: SimBehavior): { id: string; name: string; input: string }[] {
  if (behavior.toolCalls === undefined || toolResultText(body) !== undefined) return [];
  const offered = new Set((Array.isArray(body.tools) ? (body.tools as { name?: unknown }[]) : []).map((t) => String(t.name)));
  if (!behavior.toolCalls.every((c) => offered.has(c.name))) return [];
  return behavior.toolCalls.map((c, i) => ({ id: `toolu_sim_${i}_${randomBytes(6).toString('hex')}`, name: c.name, input: JSON.stringify(c.arguments) }));
}

function answerFor(name: string, body: MessageRequest, behavior: SimBehavior): string {
  const result = toolResultText(body);
  if (result !== undefined) return `Tool result: ${result.trim()}`;
  if (behavior.answer !== undefined) return behavior.answer;
  const echo = HEALTH_ECHO.exec(lastUserText(body));
  if (echo?.[1]) return echo[1];
  return `Hi! This is ${name}, a simulated Anthropic endpoint answering through qcc.`;
}

function splitInto(text: string, parts: number): string[] {
  const n = Math.max(1, Math.min(parts, text.length || 1));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length > 0 ? out : [''];
}

function usageFor(bodyBytes: number, outputTokens: number, behavior: SimBehavior): SimUsage {
  return {
    input_tokens: Math.max(1, Math.ceil(bodyBytes / 4)),
    output_tokens: outputTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    ...behavior.usage,
  };
}

/** The answer a Messages request gets: tool calls when the behaviour has them and the request offers the tools, else text. */
export function simAnswer(name: string, model: string, body: MessageRequest, bodyBytes: number, behavior: SimBehavior): SimAnswer {
  const tools = toolCallsFor(body, behavior);
  const text = tools.length > 0 ? '' : answerFor(name, body, behavior);
  const pieces = behavior.deltas ?? 8;
  const usage = usageFor(bodyBytes, tools.length > 0 ? tools.length * 3 : Math.max(1, Math.min(pieces, text.length)), behavior);
  return { model, text, tools, usage };
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function presentedKey(req: IncomingMessage): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string') return x;
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
}

function sendError(res: ServerResponse, status: number, behavior: SimBehavior): void {
  const type = behavior.errorType ?? errorTypeForStatus(status);
  const body = JSON.stringify({
    type: 'error',
    error: { type, message: behavior.errorMessage ?? `simulated ${status} ${type}` },
    request_id: `req_sim_${randomBytes(6).toString('hex')}`,
  });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-should-retry': status >= 500 || status === 429 ? 'true' : 'false',
  };
  if (behavior.retryAfter !== undefined) headers['retry-after'] = behavior.retryAfter;
  res.writeHead(status, headers);
  res.end(body);
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function sendStream(res: ServerResponse, answer: SimAnswer, behavior: SimBehavior, framer: Framer = SSE_FRAMER): Promise<void> {
  const { model, text, usage } = answer;
  const sse = (name: string, data: unknown) => framer.event(name, data);
  const pieces = answer.tools.length > 0 ? [] : splitInto(text, behavior.deltas ?? 8);
  const interval = behavior.deltaIntervalMs ?? 0;
  res.writeHead(200, {
    'content-type': framer.contentType,
    'cache-control': 'no-cache',
    'request-id': `req_sim_${randomBytes(6).toString('hex')}`,
  });
  if (behavior.resetAfterDeltas === 0) return void res.socket?.destroy();
  if (behavior.errorEventAfterDeltas === 0) {
    res.end(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    return;
  }
  const write = async (chunk: string | Uint8Array) => {
    if (res.destroyed) return;
    if (interval > 0) await delay(interval);
    res.write(chunk);
  };
  const id = `msg_sim_${randomBytes(8).toString('hex')}`;
  await write(
    sse('message_start', {
      type: 'message_start',
      message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
    }),
  );
  if (answer.tools.length === 0) await write(sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }));
  await write(sse('ping', { type: 'ping' }));
  if (behavior.stallAfterStartMs) {
    const ping = behavior.stallPingMs;
    if (ping !== undefined && ping > 0) {
      for (let waited = 0; waited < behavior.stallAfterStartMs && !res.destroyed; waited += ping) {
        await delay(Math.min(ping, behavior.stallAfterStartMs - waited));
        if (!res.destroyed) res.write(sse('ping', { type: 'ping' }));
      }
    } else {
      await delay(behavior.stallAfterStartMs);
    }
  }
  for (let i = 0; i < pieces.length; i++) {
    if (behavior.resetAfterDeltas === i) {
      // Let what was written reach the client first: a reset in the same tick would drop it, and the break
      // would land before the deltas it is meant to follow.
      await delay(10);
      return void res.socket?.destroy();
    }
    if (behavior.errorEventAfterDeltas === i) {
      res.end(sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
      return;
    }
    if (behavior.truncateAfterDeltas === i) return void res.end();
    await write(sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: pieces[i] } }));
  }
  if (answer.tools.length === 0) await write(sse('content_block_stop', { type: 'content_block_stop', index: 0 }));
  for (const [index, tool] of answer.tools.entries()) {
    await write(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: tool.id, name: tool.name, input: {} } }));
    for (const piece of splitInto(tool.input, 3)) await write(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }));
    await write(sse('content_block_stop', { type: 'content_block_stop', index }));
  }
  const stopReason = answer.tools.length > 0 ? 'tool_use' : 'end_turn';
  await write(sse('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }));
  await write(sse('message_stop', { type: 'message_stop' }));
  res.end();
}

/** A whole Messages answer as an object (what a non-streaming call returns). */
export function messageOf(answer: SimAnswer): Record<string, unknown> {
  const tools = answer.tools.map((t) => ({ type: 'tool_use', id: t.id, name: t.name, input: JSON.parse(t.input) as unknown }));
  return {
    id: `msg_sim_${randomBytes(8).toString('hex')}`,
    type: 'message',
    role: 'assistant',
    model: answer.model,
    content: tools.length > 0 ? tools : [{ type: 'text', text: answer.text }],
    stop_reason: tools.length > 0 ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: answer.usage,
  };
}

function sendMessage(res: ServerResponse, answer: SimAnswer): void {
  const body = JSON.stringify(messageOf(answer));
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const MODELS = ['claude-opus-4-8', 'claude-sonnet-5', 'claude-haiku-4-5-20251001'];

export async function startSimulator(options: SimulatorOptions = {}, port = 0, host = '127.0.0.1'): Promise<Simulator> {
  const sockets = new Set<Socket>();
  const state: Pick<Simulator, 'behavior' | 'script' | 'requests' | 'messageCalls' | 'abortedResponses' | 'cloud'> = {
    behavior: options.behavior ?? {},
    script: options.script ?? [],
    requests: [],
    messageCalls: 0,
    abortedResponses: 0,
    cloud: { tokenRequests: 0, tokensIssued: 0, authFailures: 0, callsByAccount: {}, throttled: [] },
  };
  const name = options.name ?? 'sim';
  // The simulated clouds (and the AWS libraries they check signatures with) are loaded only when asked for.
  const clouds = options.bedrock || options.vertex ? await import('./clouds.js') : undefined;
  if (options.bedrock) await eventStreamsReady();
  const vertexTokens = options.vertex ? new clouds!.VertexTokens(options.vertex) : undefined;
  let tokenUrl = '';

  async function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    const url = req.url ?? '/';
    const path = url.split('?')[0] ?? '/';
    if (options.record) state.requests.push({ method: req.method ?? 'GET', path: url, headers: req.headers, body: raw });
    if (vertexTokens && req.method === 'POST' && path === '/token') return vertexTokens.grant(req, res, raw, tokenUrl, state.cloud);
    const isChat = req.method === 'POST' && path.endsWith('/v1/chat/completions');
    const bedrockPath = options.bedrock !== undefined && req.method === 'POST' && clouds!.isBedrockPath(path);
    const bedrock = bedrockPath && !path.endsWith('/count-tokens');
    const vertex = vertexTokens !== undefined && req.method === 'POST' && clouds!.isVertexPath(path) && !path.includes('/models/count-tokens:');
    const isMessages = (req.method === 'POST' && path.endsWith('/v1/messages')) || isChat || bedrock || vertex;
    const scripted = isMessages ? state.script.shift() : undefined;
    if (isMessages) state.messageCalls++;
    const behavior: SimBehavior = { ...state.behavior, ...scripted };
    const stall = behavior.stall;
    if (isMessages && stall !== undefined && state.messageCalls % stall.every === 0) {
      if (stall.phase === 'before-headers') behavior.latencyMs = (behavior.latencyMs ?? 0) + stall.ms;
      else behavior.stallAfterStartMs = stall.ms;
    }

    if (behavior.hang) return; // the socket stays open until the client gives up or the server closes
    // Set before any writeHead, which merges them in.
    if (behavior.headers) for (const name in behavior.headers) res.setHeader(name, behavior.headers[name]!);
    if (behavior.resetBeforeHeaders) return void req.socket.destroy();
    if (behavior.latencyMs) await delay(behavior.latencyMs);
    if (behavior.requireKey !== undefined && presentedKey(req) !== behavior.requireKey) {
      return sendError(res, 401, { errorMessage: 'invalid x-api-key' });
    }
    if (bedrockPath) return clouds!.handleBedrock(req, res, raw, behavior, name, options.bedrock!, state.cloud);
    if (vertexTokens && req.method === 'POST' && clouds!.isVertexPath(path)) return clouds!.handleVertex(req, res, raw, behavior, name, options.vertex!, vertexTokens, state.cloud);
    if (isChat) {
      if (behavior.status !== undefined && behavior.status >= 400) {
        const out = openAIErrorBody(behavior.status, behavior.errorMessage ?? `simulated ${behavior.status}`);
        const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) };
        if (behavior.retryAfter !== undefined) headers['retry-after'] = behavior.retryAfter;
        res.writeHead(behavior.status, headers);
        return void res.end(out);
      }
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        return void res.end(openAIErrorBody(400, 'simulator: body is not JSON'));
      }
      return handleChatCompletions(res, raw, parsed, behavior, name);
    }
    if (behavior.status !== undefined && behavior.status >= 400) return sendError(res, behavior.status, behavior);

    if (req.method === 'GET' && path.endsWith('/v1/models')) {
      const models = behavior.models ?? MODELS;
      return sendJson(res, 200, { data: models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2026-01-01T00:00:00Z' })), has_more: false, first_id: models[0] ?? null, last_id: models.at(-1) ?? null });
    }
    if (req.method === 'POST' && (path.endsWith('/v1/messages') || path.endsWith('/v1/messages/count_tokens'))) {
      let body: MessageRequest;
      try {
        body = JSON.parse(raw.toString('utf8')) as MessageRequest;
      } catch {
        return sendError(res, 400, { errorMessage: 'simulator: request body is not valid JSON' });
      }
      if (path.endsWith('/count_tokens')) return sendJson(res, 200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) });
      const model = typeof body.model === 'string' ? body.model : 'claude-sim';
      if (behavior.failModels?.includes(model)) return sendError(res, 404, { errorMessage: `model: ${model} not found` });
      const answer = simAnswer(name, model, body, raw.length, behavior);
      if (body.stream === true && !behavior.ignoreStream) return sendStream(res, answer, behavior);
      return sendMessage(res, answer);
    }
    return sendError(res, 404, { errorMessage: `simulator: no route for ${req.method} ${path}` });
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.once('close', () => {
      if (!res.writableFinished) state.abortedResponses++;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handle(req, res, Buffer.concat(chunks)).catch(() => res.destroy());
    });
  };
  const server: Server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, onRequest) : createServer(onRequest);
  server.keepAliveTimeout = 65_000;
  server.on(options.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: 4096 }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  tokenUrl = `${options.tls ? 'https' : 'http'}://${host}:${address.port}/token`;

  // The handle is the state: tests read and change its fields directly between requests.
  return Object.assign(state, {
    name,
    url: `${options.tls ? 'https' : 'http'}://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}
