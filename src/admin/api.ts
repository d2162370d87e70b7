import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppStatus, EndpointView, SettingsView } from '../shared/api-types.js';
import { formatPath, validateConfig } from '../config/load.js';
import { migrate } from '../config/migrate.js';
import { PRESETS, presetFields, presetNamed } from '../config/presets.js';
import { cloudCredentialSummary, endpointBaseUrl, endpointSchema, type Config, type EndpointConfig } from '../config/schema.js';
import { exportConfig, planImport, stripExportMarker } from '../config/transfer.js';
import type { EndpointPool } from '../endpoints/pool.js';
import { ProxyError, sendProxyError } from '../errors.js';
import type { HealthMonitor } from '../health/monitor.js';
import { maskSecret } from '../log.js';
import { keepProxySecret, shownProxy } from '../config/proxy-secrets.js';
import { readBody } from '../proxy/body.js';
import type { LogReader } from '../stats/log-reader.js';
import { RANGES, type Range } from '../stats/timeseries.js';
import { createKeysApi, KeysApiError } from './keys-api.js';
import type { KeyLimiter } from '../keys/limiter.js';

/**
 * The admin API behind the dashboard (`/api/…`). Every route needs the admin token — a client access key is
 * never enough — and every write must come from the proxy's own origin (when the browser says where it comes
 * from) with a JSON body, which rules out cross-site form posts. Keys are write-only: they go in, and only
 * masked forms ever come out.
 */

export interface AdminContext {
  config: () => Config;
  /** Apply a new config live and persist it when the proxy has a config file; says which happened. */
  apply: (next: Config) => { persisted: boolean; note?: string };
  status: () => AppStatus;
  health: HealthMonitor;
  pool: EndpointPool;
  /** The request log, with pending rows flushed first; undefined when stats are off. */
  /** The request log (rows written so far included); none when requests are not recorded. */
  log: () => Promise<LogReader | undefined>;
  /** Origins a write may come from (the proxy's own URLs). */
  origins: () => string[];
  /** Client keys: their usage, the clock of their windows, and the pepper their hashes take (made on first use). */
  limiter: KeyLimiter;
  now: () => number;
  pepper: () => Buffer;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.includes('application/json')) throw new HttpError(415, 'send JSON (content-type: application/json)');
  const raw = await readBody(req, 4 * 1024 * 1024);
  try {
    const v = JSON.parse(raw.toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'the body must be a JSON object');
  }
}

export function maskEndpoint(e: EndpointConfig): Omit<EndpointView, 'runtime'> {
  const { api_key, api_keys, ...rest } = e;
  return {
    ...rest,
    address: endpointBaseUrl(e),
    ...(rest.proxy !== undefined && { proxy: shownProxy(rest.proxy) }),
    key: api_keys ? `${api_keys.length} keys` : api_key ? maskSecret(api_key) : (cloudCredentialSummary(e) ?? null),
    has_key: api_key !== undefined || api_keys !== undefined,
  };
}

function validEndpoint(candidate: unknown): EndpointConfig {
  const parsed = endpointSchema.safeParse(candidate);
  if (!parsed.success) throw new HttpError(400, parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  return parsed.data;
}

/** Fields the dashboard may set; a key given as "" removes it, a key left out keeps what is there. */
function applyPatch(e: EndpointConfig, patch: Record<string, unknown>): EndpointConfig {
  const allowed = [
    'base_url', 'weight', 'priority', 'enabled', 'models', 'model_map', 'auth_mode', 'max_concurrency', 'protocol', 'proxy', 'allow_insecure_http',
    'openai', 'health_models', 'oauth_passthrough', 'bedrock', 'vertex', 'price_factor',
  ];
  const next: Record<string, unknown> = { ...e };
  for (const k of allowed) if (k in patch) next[k] = patch[k] === null || patch[k] === '' ? undefined : patch[k];
  // The form shows the proxy masked; saving it unchanged keeps the password.
  if (typeof next.proxy === 'string') next.proxy = keepProxySecret(next.proxy, e.proxy);
  if ('api_key' in patch) {
    delete next.api_key;
    delete next.api_keys;
    const key = typeof patch.api_key === 'string' ? patch.api_key.trim() : '';
    if (key) next.api_key = key;
  }
  if ('api_keys' in patch) {
    // A new pool replaces whatever key or pool was there (write-only, as a single key).
    delete next.api_key;
    delete next.api_keys;
    const keys = Array.isArray(patch.api_keys) ? patch.api_keys.filter((k): k is string => typeof k === 'string').map((k) => k.trim()).filter(Boolean) : [];
    if (keys.length > 0) next.api_keys = keys;
  }
  return validEndpoint(next);
}

/** The proxy, health and stats settings as the dashboard shows them: access keys counted, proxy passwords masked. */
function settingsView(c: Config): SettingsView {
  const { access_keys, upstream_proxy, ...proxy } = c.proxy;
  return { proxy: { ...proxy, upstream_proxy: shownProxy(upstream_proxy) ?? null, access_keys: access_keys.length }, health: c.health, stats: c.stats };
}

/** `?health=include|only` on the request list; anything else (or nothing) leaves health checks out. */
function healthFilter(value: string | null): 'exclude' | 'include' | 'only' {
  return value === 'include' || value === 'only' ? value : 'exclude';
}

/** Settings the dashboard may change; where and who may connect stay with the CLI and a restart. */
const FIXED_SETTINGS = new Set(['proxy.access_keys', 'proxy.host', 'proxy.port']);

/** `{section: {field: value}}` over the config; `null` or `""` returns a field to its default. */
function applySettings(c: Config, patch: Record<string, unknown>): Config {
  const next = c as unknown as Record<string, Record<string, unknown>>;
  for (const [section, fields] of Object.entries(patch)) {
    if (section !== 'proxy' && section !== 'health' && section !== 'stats') throw new HttpError(400, `"${section}" is not a settings section (proxy, health, stats)`);
    if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new HttpError(400, `${section} must be an object of fields`);
    for (const [field, value] of Object.entries(fields as Record<string, unknown>)) {
      if (FIXED_SETTINGS.has(`${section}.${field}`)) throw new HttpError(400, `${section}.${field} is set with the CLI (qcc config set) and applies at restart`);
      if (value === null || value === '') delete next[section]![field];
      else next[section]![field] = value;
    }
  }
  // The form shows the proxy masked; saving it unchanged keeps the password.
  const upstream = next.proxy!.upstream_proxy;
  if (typeof upstream === 'string') next.proxy!.upstream_proxy = keepProxySecret(upstream, c.proxy.upstream_proxy);
  return c;
}

export function createAdminApi(ctx: AdminContext) {
  function sameOrigin(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === undefined || ctx.origins().includes(origin);
  }

  function endpointsView(): EndpointView[] {
    const status = new Map(ctx.status().endpoints.map((s) => [s.id, s]));
    return ctx.config().endpoints.map((e) => ({ ...maskEndpoint(e), runtime: status.get(e.id) ?? null }));
  }

  function change(fn: (c: Config) => Config): { persisted: boolean; note?: string } {
    const current = ctx.config();
    const next = fn(structuredClone(current));
    return ctx.apply(validateConfig(next, 'dashboard change'));
  }

  const keysRoute = createKeysApi({ config: ctx.config, change, limiter: ctx.limiter, now: ctx.now, pepper: ctx.pepper });

  function events(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    // One small snapshot every two seconds: cheap enough to leave open all day.
    const send = () => res.write(`event: status\ndata: ${JSON.stringify(ctx.status())}\n\n`);
    send();
    const timer = setInterval(send, 2_000);
    req.on('close', () => clearInterval(timer));
  }

  async function route(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD' && !sameOrigin(req)) throw new HttpError(403, 'cross-origin writes are refused');
    const endpointMatch = /^\/api\/endpoints\/([^/]+)(\/test)?$/.exec(path);

    if (method === 'GET' && path === '/api/status') return json(res, 200, ctx.status());
    if (method === 'GET' && path === '/api/events') return events(req, res);
    if (method === 'GET' && path === '/api/endpoints') return json(res, 200, endpointsView());
    if (method === 'GET' && path === '/api/presets') return json(res, 200, PRESETS);
    if (method === 'POST' && path === '/api/endpoints') {
      // `preset`: a vendor's settings under what the form gave (as `qcc endpoint add --preset`).
      const { preset: presetId, ...given } = await readJson(req);
      const preset = presetId === undefined || presetId === '' ? undefined : presetNamed(String(presetId));
      if (presetId !== undefined && presetId !== '' && preset === undefined) throw new HttpError(400, `no preset "${String(presetId)}"; there are: ${PRESETS.map((p) => p.id).join(', ')}`);
      const e = validEndpoint({ ...(preset && presetFields(preset)), ...given });
      if (ctx.config().endpoints.some((x) => x.id === e.id)) throw new HttpError(409, `an endpoint "${e.id}" exists already`);
      const r = change((c) => ({ ...c, endpoints: [...c.endpoints, e] }));
      return json(res, 201, { endpoint: maskEndpoint(e), ...r });
    }
    if (method === 'POST' && path === '/api/endpoints/order') {
      const ids = (await readJson(req)).ids;
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new HttpError(400, 'ids must be a list of endpoint ids');
      const r = change((c) => ({
        ...c,
        endpoints: c.endpoints.map((e) => (ids.includes(e.id) ? { ...e, priority: ids.indexOf(e.id) } : e)),
      }));
      return json(res, 200, { endpoints: endpointsView(), ...r });
    }
    if (endpointMatch) {
      const id = decodeURIComponent(endpointMatch[1]!);
      const existing = ctx.config().endpoints.find((e) => e.id === id);
      if (!existing) throw new HttpError(404, `no endpoint "${id}"`);
      if (endpointMatch[2] && method === 'POST') {
        const runtime = ctx.pool.get(id);
        if (!runtime) throw new HttpError(404, `no endpoint "${id}"`);
        return json(res, 200, { results: await ctx.health.checkEndpoint(runtime), score: ctx.health.endpointScore(id) ?? null });
      }
      if (method === 'PATCH') {
        const updated = applyPatch(existing, await readJson(req));
        const r = change((c) => ({ ...c, endpoints: c.endpoints.map((e) => (e.id === id ? updated : e)) }));
        return json(res, 200, { endpoint: maskEndpoint(updated), ...r });
      }
      if (method === 'DELETE') {
        const r = change((c) => ({ ...c, endpoints: c.endpoints.filter((e) => e.id !== id) }));
        return json(res, 200, r);
      }
    }
    if (method === 'GET' && path === '/api/requests') {
      const log = await ctx.log();
      if (!log) return json(res, 200, []);
      const status = query.get('status');
      return json(
        res,
        200,
        (await log.recent({
          limit: Math.min(500, Number(query.get('limit') ?? 100) || 100),
          failedOnly: query.get('failed') === '1',
          ...(query.get('endpoint') && { endpoint: query.get('endpoint')! }),
          ...(query.get('model') && { model: query.get('model')! }),
          ...(status && { status: Number(status) }),
          healthChecks: healthFilter(query.get('health')),
          ...(Number(query.get('before')) > 0 && { beforeId: Number(query.get('before')) }),
          // A request looked up by its id is found whatever it was (a health check too).
          ...(query.get('request_id') && { requestId: query.get('request_id')!.trim(), healthChecks: 'include' as const }),
        })).reverse(),
      );
    }
    if (method === 'GET' && path === '/api/stats') {
      const range = (query.get('range') ?? '1h') as Range;
      if (!(range in RANGES)) throw new HttpError(400, 'range is 1h, 24h or 7d');
      const log = await ctx.log();
      return json(res, 200, log ? await log.timeseries(range, Date.now()) : { range, bucket_ms: 0, buckets: [] });
    }
    const healthMatch = /^\/api\/health\/([^/]+)$/.exec(path);
    if (method === 'GET' && healthMatch) {
      const id = decodeURIComponent(healthMatch[1]!);
      const runtime = ctx.pool.get(id);
      return json(res, 200, { id, history: ctx.health.history.of(id), models: runtime ? ctx.health.modelHealth(runtime) : [] });
    }
    if (method === 'GET' && path === '/api/settings') return json(res, 200, settingsView(ctx.config()));
    if (method === 'PATCH' && path === '/api/settings') {
      const patch = await readJson(req);
      const r = change((c) => applySettings(c, patch));
      return json(res, 200, { settings: settingsView(ctx.config()), ...r });
    }
    if (method === 'GET' && path === '/api/config/export') {
      return json(res, 200, exportConfig(ctx.config(), query.get('secrets') === '1'));
    }
    if (method === 'POST' && path === '/api/config/import') {
      const body = await readJson(req);
      const { value: unmarked, meta } = stripExportMarker(body.config);
      const incoming = validateConfig(migrate(unmarked).value, 'imported config');
      const raw = (migrate(unmarked).value ?? {}) as Record<string, unknown>;
      const rawProxy = (raw.proxy ?? {}) as Record<string, unknown>;
      const plan = planImport(ctx.config(), incoming, body.mode === 'replace' ? 'replace' : 'merge', meta?.secrets !== 'omitted', {
        sections: Object.keys(raw),
        proxyFields: Object.keys(rawProxy),
      });
      const applied = body.dry_run === true ? { persisted: false } : ctx.apply(plan.result);
      const { result: _r, ...summary } = plan;
      return json(res, 200, { ...summary, dry_run: body.dry_run === true, ...applied });
    }
    if (path === '/api/keys' || path.startsWith('/api/keys/')) {
      const answer = await keysRoute(method, path, () => readJson(req));
      if (answer) return json(res, answer.status, answer.value);
    }
    throw new HttpError(404, `no admin route ${method} ${path}`);
  }

  return async function handleAdmin(req: IncomingMessage, res: ServerResponse, url: string, requestId: string): Promise<void> {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    try {
      await route(req, res, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
    } catch (e: unknown) {
      if (res.headersSent) return void res.destroy();
      if (e instanceof KeysApiError) return json(res, e.status, { type: 'error', error: { type: e.status === 404 ? 'not_found_error' : 'invalid_request_error', message: e.message } });
      if (e instanceof HttpError) return json(res, e.status, { type: 'error', error: { type: e.status === 404 ? 'not_found_error' : 'invalid_request_error', message: e.message } });
      if (e instanceof ProxyError) return sendProxyError(res, e, requestId);
      const message = e instanceof Error ? e.message : String(e);
      json(res, 400, { type: 'error', error: { type: 'invalid_request_error', message } });
    }
  };
}
