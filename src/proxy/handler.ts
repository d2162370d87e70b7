import { clientHeader, type ClientRequest, type ClientResponse } from '../server/client.js';
import type { Upstream } from '../upstream/client.js';
import type { ProxySettings } from '../config/schema.js';
import { ProxyError, sendProxyError } from '../errors.js';
import type { EndpointPool } from '../endpoints/pool.js';
import type { RetryBudget } from '../endpoints/retry-budget.js';
import { bodyAtHand, readBody } from './body.js';
import { BodyError } from '../server/connection.js';
import { carriesOAuthToken, OFFICIAL_API_HOST, takesOAuthClient } from '../protocols/anthropic/oauth.js';
import type { ModelCatalog } from './model-catalog.js';
import type { AttemptRecord, ProxyObserver, RequestRecord } from './events.js';
import type { AttemptResult, HeldResponse } from '../protocols/contract.js';
import { runAttempt, type ParsedRequest } from './attempt.js';
import { KnownBodies, RequestScanError, scanMessageRequest, type ScannedRequest } from './request-scan.js';
import type { HeaderMap } from '../protocols/anthropic/headers.js';
import { decide, parseRetryAfter, type Decision, type Outcome, type Penalty } from './policy.js';
import type { PlannedAttempt } from '../endpoints/pool.js';
import { relayHeld } from './relay.js';
import { unservedModel } from './unserved.js';
import { Deadlines } from '../upstream/deadlines.js';
import { AttemptRace, type RunningAttempt } from './race.js';
import type { KeyHeader } from '../protocols/anthropic/headers.js';
import type { ClientKeyConfig } from '../config/schema.js';
import { countedTokens, type KeyAdmission, type Refusal, type Ticket } from '../keys/limiter.js';

export interface ProxyContext {
  settings: () => ProxySettings;
  pool: EndpointPool;
  budget: RetryBudget;
  dispatcher: Upstream;
  /** Wall-clock milliseconds; injectable for breakers and cool-downs. */
  now: () => number;
  observer?: ProxyObserver | undefined;
  /** Answers `GET /v1/models` from the endpoints' models (model discovery); without it, that passes through. */
  catalog?: ModelCatalog | undefined;
  /** Client keys' limits (keys/limiter.ts), and what a finished request cost (priced as the request log prices it). */
  keys?: { limiter: KeyAdmission; cost: (record: RequestRecord) => number } | undefined;
}

/** What the access check found: who is calling, and which client header(s) carried qcc's own key (never forwarded). */
export interface ClientAuth {
  accessKeyHeader: KeyHeader | undefined;
  /** A client key with its limits; undefined for the shared access keys and an open proxy. */
  clientKey: ClientKeyConfig | undefined;
  /** The caller's name for the request log: a client key's name, or `access_keys[N]`. */
  keyName: string | undefined;
}

/** A client key's refusal as the client sees it. */
function refusalError(r: Refusal): ProxyError {
  if (r.reason === 'model') return new ProxyError('keyModelRefused', r.message);
  if (r.reason === 'budget') return new ProxyError('keyBudgetExhausted', r.message, r.retryAfterS, { 'x-should-retry': 'false' });
  return new ProxyError('keyRateLimited', r.message, r.retryAfterS, r.headers);
}

const MESSAGES = '/v1/messages';
const COUNT_TOKENS = '/v1/messages/count_tokens';

function parseRequest(method: string, pathname: string, body: Buffer | null, knownBodies: KnownBodies): ParsedRequest {
  const countTokens = method === 'POST' && pathname === COUNT_TOKENS;
  if (!(method === 'POST' && (pathname === MESSAGES || countTokens))) {
    return { json: undefined, model: undefined, stream: false, countTokens: false, messages: false };
  }
  const bytes = body ?? Buffer.alloc(0);
  let scanned: ScannedRequest;
  try {
    // Validated and read without building the object: see request-scan.ts (it is most of the CPU a large
    // request costs otherwise).
    scanned = scanMessageRequest(bytes, knownBodies);
  } catch (e: unknown) {
    if (!(e instanceof RequestScanError)) throw e;
    // Valid JSON that is not an object (rare, and small) is an invalid request rather than malformed JSON.
    if (e.notAnObject && lazyObject(bytes, true)() !== undefined) throw new ProxyError('invalidRequest', 'request body must be a JSON object');
    throw new ProxyError('malformedJson', `request body is not valid JSON: ${e.message}`);
  }
  return { json: lazyObject(bytes), model: scanned.model, stream: scanned.stream, countTokens, messages: !countTokens, maxTokens: scanned.maxTokens };
}

/**
 * The body as an object, parsed once on first use; undefined if JSON.parse refuses what the scanner let by.
 * `anyValue` accepts any JSON value (to tell "not an object" from "not JSON").
 */
function lazyObject(bytes: Buffer, anyValue = false): () => Record<string, unknown> | undefined {
  let parsed: Record<string, unknown> | undefined;
  let done = false;
  return () => {
    if (!done) {
      done = true;
      try {
        const value: unknown = JSON.parse(bytes.toString('utf8'));
        parsed = anyValue || (typeof value === 'object' && value !== null && !Array.isArray(value)) ? (value as Record<string, unknown>) : undefined;
      } catch {
        parsed = undefined;
      }
    }
    return parsed;
  };
}

function outcomeOf(result: AttemptResult): Outcome | undefined {
  switch (result.kind) {
    case 'error-response': {
      const r = result.response;
      return {
        kind: 'status',
        status: r.status,
        retryAfterSeconds: parseRetryAfter(r.headers['retry-after']),
        errorText: r.status === 429 ? r.body.subarray(0, 4096).toString('utf8') : undefined,
      };
    }
    case 'failed':
      return { kind: 'failure', failure: result.failure };
    default:
      return undefined;
  }
}

/** A local token estimate for `count_tokens` when no endpoint supports it: ~4 bytes a token. */
function sendCountEstimate(res: ClientResponse, body: Buffer | null, extra: HeaderMap): void {
  const payload = JSON.stringify({ input_tokens: Math.max(1, Math.ceil((body?.length ?? 0) / 4)) });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)), 'x-qcc-estimated': 'true', ...extra });
  res.end(payload);
}

/** Failures that belong to the key used, not to the endpoint. */
const KEY_PENALTIES: ReadonlySet<Penalty> = new Set<Penalty>(['auth', 'rate-limit', 'spend-limit']);

export function createProxyHandler(ctx: ProxyContext) {
  // Claude Code's system prompt and tools repeat from request to request: validated once, not on every turn.
  const knownBodies = new KnownBodies();
  // Every streaming request arms a hedge deadline and nearly always stops it: one timer for all (upstream/deadlines.ts).
  const deadlines = new Deadlines();
  return async function handleProxy(req: ClientRequest, res: ClientResponse, requestId: string, auth: ClientAuth): Promise<void> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const settings = ctx.settings();
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const q = path.indexOf('?');
    const pathname = q === -1 ? path : path.slice(0, q);
    const sessionId = clientHeader(req, 'x-claude-code-session-id');
    const record: RequestRecord = {
      requestId,
      startedAt,
      method,
      path: pathname,
      model: undefined,
      stream: false,
      sessionId,
      endpointId: undefined,
      attempts: [],
      status: 0,
      ttfbMs: undefined,
      totalMs: 0,
      usage: undefined,
      end: undefined,
      errorCode: undefined,
      healthCheck: false, // health checks are recorded by the health monitor, never inferred from client headers
      // Always present (undefined when unset), so every record has one shape whoever calls.
      clientKey: auth.keyName,
      keyRefusal: undefined,
    };
    let ticket: Ticket | undefined;
    const finish = (status: number) => {
      record.status = status;
      record.totalMs = performance.now() - t0;
      if (ticket !== undefined) ctx.keys!.limiter.settle(ticket, countedTokens(record.usage), ctx.keys!.cost(record), ctx.now());
      ctx.observer?.requestFinished(record);
    };
    const proxyHeaders = (endpointId?: string): HeaderMap => {
      const h: HeaderMap = { 'x-qcc-request-id': requestId, 'x-qcc-attempts': String(record.attempts.length) };
      if (endpointId !== undefined) h['x-qcc-endpoint'] = endpointId;
      return h;
    };
    const fail = (err: ProxyError) => {
      record.errorCode = err.code;
      sendProxyError(res, err, requestId);
      finish(err.status);
    };

    if (method === 'GET' && pathname === '/v1/models' && ctx.catalog) {
      const page = await ctx.catalog.page(new URLSearchParams(q === -1 ? '' : path.slice(q + 1)));
      if (page !== undefined) {
        const text = JSON.stringify(page);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...proxyHeaders() });
        res.end(text);
        return finish(200);
      }
    }

    let body: Buffer | null = null;
    let parsed: ParsedRequest;
    try {
      if (method !== 'GET' && method !== 'HEAD') body = bodyAtHand(req, settings.max_body_bytes) ?? (await readBody(req, settings.max_body_bytes));
      parsed = parseRequest(method, pathname, body, knownBodies);
    } catch (e: unknown) {
      if (e instanceof ProxyError) {
        if (e.code === 'bodyTooLarge') res.setHeader('connection', 'close');
        return fail(e);
      }
      // The server gave up on the body: too slow, or too many request bytes held already (say when to come back).
      if (e instanceof BodyError && e.reason === 'timeout') return fail(new ProxyError('bodyTimeout', `${e.message}; send the request again`));
      if (e instanceof BodyError && e.reason === 'busy') {
        res.setHeader('retry-after', '1');
        return fail(new ProxyError('bodyBufferFull', `${e.message}; try again in a moment`));
      }
      return finish(0); // the client went away while sending
    }
    record.model = parsed.model;
    record.stream = parsed.stream;

    // A client key's limits, before any upstream is tried (keys/limiter.ts).
    const clientKey = auth.clientKey;
    if (clientKey !== undefined && ctx.keys !== undefined) {
      const decided = ctx.keys.limiter.admit(clientKey, { model: parsed.model, messages: parsed.messages, bodyBytes: body?.length ?? 0, maxTokens: parsed.maxTokens }, ctx.now());
      // Shared limits (several replicas) take one round trip to Redis, bounded by state.timeout_ms.
      const verdict = decided instanceof Promise ? await decided : decided;
      if ('reason' in verdict) {
        // Logged as `key-rpm`, `key-tpm`, `key-budget` or `key-model`: which limit, not just that one refused.
        const err = refusalError(verdict);
        record.keyRefusal = verdict.reason;
        record.errorCode = `key-${verdict.reason}`;
        sendProxyError(res, err, requestId);
        return finish(err.status);
      }
      ticket = verdict;
    }

    if (ctx.pool.all().length === 0) {
      return fail(
        new ProxyError(
          'noEndpoint',
          'qcc has no endpoints yet: add one with `qcc endpoint add main --base-url https://api.anthropic.com --api-key-env ANTHROPIC_API_KEY` ' +
            'or in the dashboard (`qcc dashboard` prints its address); it applies at once',
        ),
      );
    }
    const now = ctx.now();
    ctx.budget.recordRequest(now);
    const next = ctx.pool.plan(parsed.model, sessionId, clientKey?.endpoints);
    const headersTimeoutMs = parsed.stream || !parsed.json ? settings.first_byte_timeout_ms : settings.non_stream_timeout_ms;
    let lastHeld: { held: HeldResponse; endpointId: string } | undefined;
    let lastFailure: { message: string; timeout: boolean } | undefined;
    let allNotSupported = parsed.countTokens;
    // A subscription token goes only where it belongs (oauth.ts): other endpoints are passed over, not failed.
    const oauthClient = carriesOAuthToken(clientHeader(req, 'authorization'), clientHeader(req, 'x-api-key'), auth.accessKeyHeader);
    const withheld: string[] = [];

    // Candidates to take before the planner's next pick: the same endpoint with its next key (a key, not the
    // endpoint, was refused), or the endpoint a hedge would have used when the budget said no.
    const queued: PlannedAttempt[] = [];
    const nextCandidate = (): PlannedAttempt | undefined => {
      for (;;) {
        const planned = queued.shift() ?? next();
        if (!planned) return undefined;
        if (oauthClient && !takesOAuthClient(planned.endpoint)) {
          withheld.push(planned.endpoint.id);
          continue;
        }
        return planned;
      }
    };

    // Hedging (race.ts, seat.ts): a message request with no first content after a delay is also sent to the next
    // candidate; the first to produce content takes the client and the other is stopped at once.
    const hedging = settings.hedge;
    const race = new AttemptRace(
      { hedge: hedging, deadlines, poolFirstContent: ctx.pool.firstContent, now: ctx.now },
      record,
      hedging.enabled && parsed.messages && (parsed.stream || hedging.non_streaming),
      parsed.stream ? (parsed.model ?? '') : `${parsed.model ?? ''}\u0000whole`,
      body?.length ?? 0,
    );

    const launch = (planned: PlannedAttempt, asHedge: boolean): void => {
      const { endpoint, failOpen } = planned;
      // Fail-open picks an endpoint whose keys may all be cooling: use one anyway, that is the point.
      const key = endpoint.keys.pick(failOpen ? Number.POSITIVE_INFINITY : ctx.now());
      if (endpoint.breaker.state === 'half-open') endpoint.breaker.beginTrial();
      endpoint.inflight++;
      endpoint.requests++;
      const n = record.attempts.length + 1;
      const attempt: AttemptRecord = { endpointId: endpoint.id, ms: 0 };
      if (failOpen) attempt.failOpen = true;
      if (asHedge) attempt.hedge = true;
      record.attempts.push(attempt);
      const run: RunningAttempt = { n, endpoint, key, record: attempt, started: performance.now(), hedge: asHedge };
      const result = runAttempt({
        call: { upstream: ctx.dispatcher, endpoint, key, client: req, method, path, body, parsed, accessKeyHeader: auth.accessKeyHeader, oauthClient },
        res,
        headersTimeoutMs,
        idleTimeoutMs: settings.idle_timeout_ms,
        ownHeaders: () => ({ 'x-qcc-request-id': requestId, 'x-qcc-endpoint': endpoint.id, 'x-qcc-attempts': String(n) }),
        seat: race.seat?.for(n),
      });
      race.track(run, result);
    };

    try {
      for (;;) {
        if (race.running.size === 0) {
          const planned = nextCandidate();
          if (!planned) break;
          if (record.attempts.length > 0 && !ctx.budget.tryFailover(ctx.now())) break;
          launch(planned, false);
        }
        const ev = await race.next();
        if (ev.kind === 'hedge-due') {
          if (!race.hedgeWanted(ev, record.attempts.length)) continue;
          const planned = nextCandidate();
          if (!planned) continue;
          if (!ctx.budget.tryHedge(ctx.now(), hedging.max_ratio)) {
            queued.unshift(planned); // kept for a failover, should the running attempt fail
            continue;
          }
          race.hedgeSent();
          launch(planned, true);
          continue;
        }
        if (ev.kind === 'threw') throw ev.error;
        const { run, result } = ev;
        const { endpoint, key, record: attempt } = run;

        if (result.kind === 'cancelled') {
          race.lost(run, result.usage);
          continue;
        }
        if (result.kind === 'client-abort') {
          // The client left: not the endpoint's fault, and nobody is waiting for an answer.
          endpoint.breaker.release();
          attempt.error = 'client-abort';
          record.endpointId = endpoint.id;
          record.end = 'client-abort';
          record.ttfbMs = result.ttfbMs;
          await race.settle();
          return finish(0);
        }
        if (result.kind === 'committed') {
          attempt.status = result.status;
          record.endpointId = endpoint.id;
          record.ttfbMs = result.ttfbMs;
          record.firstContentMs = run.started - t0 + result.firstContentMs;
          record.usage = result.usage;
          if (result.usageNote !== undefined) record.note = result.usageNote;
          record.end = result.end;
          if (endpoint.config.simulated === true) record.simulated = true;
          race.answered(run, result.firstContentMs, result.status < 300 && parsed.messages);
          if (result.end === 'complete') endpoint.recordSuccess(result.ttfbMs, key?.index);
          else if (result.end === 'client-abort') endpoint.breaker.release();
          else {
            // Cut after the first byte: no replay is possible, but the endpoint is to blame.
            attempt.error = result.end;
            attempt.penalty = 'broken-stream';
            endpoint.lastError = result.message;
            if (!parsed.countTokens) endpoint.recordFailure('broken-stream', ctx.now(), key?.index, undefined);
          }
          if (sessionId !== undefined) {
            // Claude Code answers a broken stream by sending the request again: that retry goes elsewhere.
            if (result.end === 'truncated' || result.end === 'upstream-error') ctx.pool.affinity.avoidNext(sessionId, endpoint.id, ctx.now());
            else ctx.pool.affinity.set(sessionId, endpoint.id);
          }
          const rest = race.settle(result);
          if (rest !== undefined) await rest;
          return finish(result.end === 'client-abort' ? 0 : result.status);
        }

        const outcome = outcomeOf(result)!;
        const decision: Decision = decide(outcome, { endpointOwnsKey: endpoint.ownsCredential, countTokens: parsed.countTokens });
        attempt.penalty = decision.penalty;
        if (result.kind === 'error-response') {
          attempt.status = result.response.status;
          if (decision.action === 'return') {
            endpoint.breaker.release();
            await race.settle();
            record.endpointId = endpoint.id;
            relayHeld(res, result.response, proxyHeaders(endpoint.id));
            return finish(result.response.status);
          }
          lastHeld = { held: result.response, endpointId: endpoint.id };
          lastFailure = undefined;
          if (result.response.status !== 404) allNotSupported = false;
        } else {
          attempt.error = result.failure;
          attempt.message = result.message;
          allNotSupported = false;
          lastFailure = { message: `${endpoint.id}: ${result.failure}: ${result.message}`, timeout: result.failure === 'first-byte-timeout' };
          // A stream that failed with `event: error` is the upstream's own answer and can be relayed as it came.
          lastHeld = result.failure === 'error-event' && result.held ? { held: result.held, endpointId: endpoint.id } : undefined;
        }
        if (decision.penalty) {
          // The cause in words where there is one (a refused connection, a proxy that rejected its credentials), not just its class.
          endpoint.lastError = result.kind === 'failed' ? `${result.failure}: ${result.message}` : `HTTP ${attempt.status}`;
          endpoint.recordFailure(decision.penalty, ctx.now(), key?.index, outcome.kind === 'status' ? outcome.retryAfterSeconds : undefined);
          // A key of a pool refused (401/403/402) or limited (429): that key is set aside (just above), and the
          // endpoint's next key is tried before any other endpoint — an attempt like any other, under the budget.
          // Bounded: every such failure takes one more key out.
          if (key !== undefined && KEY_PENALTIES.has(decision.penalty) && endpoint.keys.hasUsable(ctx.now())) queued.unshift({ endpoint, failOpen: false });
        } else {
          endpoint.breaker.release();
        }
      }
    } finally {
      race.close();
    }

    // Every candidate failed (or none was usable). Relay the last upstream's own answer where there is one.
    if (parsed.countTokens && allNotSupported) {
      sendCountEstimate(res, body, proxyHeaders());
      return finish(200);
    }
    if (lastHeld) {
      record.endpointId = lastHeld.endpointId;
      relayHeld(res, lastHeld.held, proxyHeaders(lastHeld.endpointId));
      return finish(lastHeld.held.status);
    }
    if (lastFailure) {
      return fail(new ProxyError(lastFailure.timeout ? 'upstreamTimeout' : 'upstreamUnreachable', `no endpoint could serve the request; last error: ${lastFailure.message}`));
    }
    if (withheld.length > 0 && record.attempts.length === 0) {
      return fail(
        new ProxyError(
          'oauthWithheld',
          `this request carries a claude.ai subscription (OAuth) token, which qcc sends only to ${OFFICIAL_API_HOST}; ` +
            `no such endpoint can serve it (${withheld.join(', ')} would need a key of their own, or "oauth_passthrough": true)`,
        ),
      );
    }
    // No endpoint serves the model at all: a 404 that says which to change, not a 503 to wait out.
    const unserved = parsed.model !== undefined && record.attempts.length === 0 ? unservedModel(clientKey?.endpoints === undefined ? ctx.pool.all() : ctx.pool.all().filter((e) => clientKey.endpoints!.includes(e.id)), parsed.model) : undefined;
    if (unserved !== undefined) return fail(new ProxyError('modelNotServed', unserved));
    const wanted = parsed.model !== undefined ? ` for model "${parsed.model}"` : '';
    if (clientKey?.endpoints !== undefined) {
      return fail(
        new ProxyError('noEndpoint', `no usable endpoint${wanted} among those key "${clientKey.name}" may use (${clientKey.endpoints.join(', ')}): disabled, cooling down, full, or not serving this model`, 5),
      );
    }
    return fail(new ProxyError('noEndpoint', `no usable endpoint${wanted}: all are disabled, cooling down, full, or do not serve this model`, 5));
  };
}
