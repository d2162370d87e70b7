import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UpstreamClient } from './upstream/client.js';
import type { Config, EndpointConfig } from './config/schema.js';
import { DemoEndpoints } from './demo-endpoints.js';
import type { AppStatus } from './shared/api-types.js';
import { ProxyError, sendProxyError } from './errors.js';
import { EndpointPool } from './endpoints/pool.js';
import type { ProxyEnvironment } from './endpoints/route.js';
import { RetryBudget } from './endpoints/retry-budget.js';
import { DEFAULT_QUEUE, FailureQueue, type FailureQueueSettings, type QueueTimers, type QueuedEndpoint } from './endpoints/failure-queue.js';
import { describeEndpoints } from './endpoints/status.js';
import { readState, writeState } from './endpoints/state-store.js';
import { checkClient, isLoopbackHost, secretEquals } from './proxy/access.js';
import { Keyring } from './keys/keyring.js';
import { KeyLimiter } from './keys/limiter.js';
import { createProxyHandler } from './proxy/handler.js';
import { ModelCatalog } from './proxy/model-catalog.js';
import type { ClientRequest, ClientResponse } from './server/client.js';
import { FrontServer } from './server/front-server.js';
import type { ProxyObserver, RequestRecord } from './proxy/events.js';
import { silentLogger, type Logger } from './log.js';
import { ProxyMetrics } from './stats/metrics.js';
import { PriceTable } from './stats/pricing.js';
import { StatsRecorder } from './stats/recorder.js';
import { RequestLog } from './stats/request-log.js';
import { registerStoreMetrics } from './stats/store-metrics.js';
import { HealthMonitor } from './health/monitor.js';
import { createAdminApi } from './admin/api.js';
import { resolveAsset, serveAsset, webRootExists } from './admin/static.js';
import { configFileTime, loadConfig, replaceConfigFile, saveConfig } from './config/load.js';
import { warmEndpoints } from './protocols/index.js';
import { Cluster } from './cluster/cluster.js';
import type { StoreSettings } from './cluster/settings.js';

export interface AppDeps {
  logger?: Logger;
  now?: () => number;
  random?: () => number;
  timers?: QueueTimers;
  /** Where the failure queue is persisted; none in tests that do not need it. */
  statePath?: string;
  /** Token for `/_qcc/*`, `/api/*` and the dashboard; without one those routes answer 401. */
  adminToken?: string;
  observer?: ProxyObserver;
  version?: string;
  /** Failure-queue schedule; tests shorten it. */
  queue?: Partial<FailureQueueSettings>;
  /** SQLite request log; none means requests are not recorded (metrics still are). */
  statsFile?: string;
  /** Where dashboard changes are saved; without one they apply live only (the demo). */
  configPath?: string;
  /**
   * `--demo` with no endpoint configured: simulated endpoints served while the config file has none. They are never
   * written to the file; the first real endpoint (from the dashboard or the file) replaces them.
   */
  demoEndpoints?: EndpointConfig[];
  /** Proxy variables (`HTTPS_PROXY`, `NO_PROXY`, …) for endpoints with no proxy setting; the process's own by default. */
  env?: ProxyEnvironment;
  /**
   * The client keys' pepper (keys/secret.ts): given (tests), or read from this file (made when the dashboard
   * creates the first key), `QCC_KEY_PEPPER` winning over both.
   */
  keyPepper?: Buffer;
  keyPepperFile?: string;
  /** Where shared state and the request log live (cluster/settings.ts); absent: this process's memory and `statsFile`. */
  stores?: StoreSettings;
}

export interface App {
  /** The listening socket (qcc's front server; Node's HTTP server behind it gets what it does not answer). */
  readonly server: NetServer;
  readonly pool: EndpointPool;
  readonly queue: FailureQueue;
  readonly metrics: ProxyMetrics;
  readonly health: HealthMonitor;
  /** Write pending request rows now (normally done on a timer). */
  flushStats(): void;
  /** Write pending request rows and wait until they are written (or `timeoutMs` passed). */
  drainStats(timeoutMs?: number): Promise<void>;
  /** Several replicas: their shared state in Redis (undefined for a lone qcc). */
  readonly cluster: Cluster | undefined;
  /** Connect to the shared stores; false when one was not reachable within `waitMs` (the replica then serves alone). */
  connectStores(waitMs: number): Promise<boolean>;
  listen(port: number, host: string): Promise<{ url: string; host: string; port: number }>;
  /** Stop accepting, let in-flight requests finish for up to `drainMs`, then cut what is left. */
  close(drainMs?: number): Promise<void>;
  /** Client keys' limits and usage (rebuilt from the request log at start). */
  readonly limiter: KeyLimiter;
  /** Apply a new config without a restart; in-flight requests keep the endpoint objects they hold. */
  reload(config: Config): void;
  /** The config file changed on disk: applied as it is, or over the simulated endpoints while it has none (demo). */
  reloadFromFile(config: Config): void;
  /** The config file failed to load (its path and why), or loads again (undefined): shown in status. */
  configRejected(problem: { file: string; problem: string } | undefined): void;
  config(): Config;
  status(): AppStatus;
}

export type { AppStatus };

const ROOT_ANSWER = Buffer.from(JSON.stringify({ name: 'qcc', ok: true }));

/** How long an idle client connection is kept (Claude Code reuses its connections between turns). */
const KEEP_ALIVE_MS = 30_000;
/** How long a client may take to send a request head. */
const HEADERS_TIMEOUT_MS = 60_000;

const defaultTimers: QueueTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function createApp(initial: Config, deps: AppDeps = {}): App {
  let config = initial;
  const logger = deps.logger ?? silentLogger();
  const now = deps.now ?? Date.now;
  const keyring = new Keyring(config, { pepper: deps.keyPepper, pepperFile: deps.keyPepperFile }, (e) => logger.error({ err: e }, 'client keys cannot be verified'));
  if (keyring.registry.unverifiable) logger.error('client keys are configured but their pepper is missing: every key will be refused until it is restored');
  const limiter = new KeyLimiter();
  const started = Date.now();
  const dispatcher = new UpstreamClient({ keepAliveMs: 30_000, connectTimeoutMs: 10_000 });
  let queue: FailureQueue | undefined;
  // Assigned once the parts it connects exist; endpoint events before that (the queue restored at start) are local.
  let cluster: Cluster | undefined;
  let prices = PriceTable.forConfig(config);
  let publicBind = false;

  // What cloud endpoints sign or authenticate with is fetched as soon as their config applies (protocols/index.ts).
  const warmProtocols = (): void =>
    warmEndpoints(pool.all(), dispatcher, (endpoint, problem) => logger.warn({ endpoint: endpoint.id, problem }, 'endpoint credentials are not ready'));
  const metrics = new ProxyMetrics(() => describeEndpoints(pool, now(), (id) => health.lastCheck(id)), () => prices);
  const pool: EndpointPool = new EndpointPool(config, {
    now,
    env: deps.env ?? process.env,
    random: deps.random ?? Math.random,
    onTransition: (id, t) => {
      logger.info({ endpoint: id, from: t.from, to: t.to, cause: t.cause }, 'breaker transition');
      metrics.breakerTransition(id, t);
      const endpoint = pool.get(id);
      if (endpoint) cluster?.breakerChanged(endpoint, t);
      if (!endpoint || !queue) return;
      if (t.to === 'open' && t.cause !== 'overload') queue.enqueue(endpoint);
      else if (t.to === 'closed') queue.remove(id);
    },
    onKeyChange: (endpoint, key, problem, until) => cluster?.keyChanged(endpoint, key, problem, until),
    onFailureRun: (endpoint, penalty) => cluster?.failureRun(endpoint, penalty),
  });
  queue = new FailureQueue({
    now,
    timers: deps.timers ?? defaultTimers,
    lookup: (id) => pool.get(id),
    check: async (endpoint) => {
      // The full health check: a model that works is enough to bring the endpoint back.
      const results = await health.checkEndpoint(endpoint);
      const ok = results.some((r) => r.ok);
      if (!ok) endpoint.lastError = `recovery check: ${results.map((r) => r.error).join('; ')}`;
      return ok;
    },
    persist: deps.statePath ? (queued) => persistQueue(deps.statePath!, queued, logger) : undefined,
    onRestored: (e) => logger.info({ endpoint: e.id }, 'endpoint restored by recovery check'),
    onCheckFailed: (e, next) => logger.warn({ endpoint: e.id, next_check_ms: next }, 'recovery check failed'),
  }, { ...DEFAULT_QUEUE, ...deps.queue });
  if (deps.statePath) {
    // Rebuild the queue: endpoints that were queued when the proxy stopped are checked again first thing.
    for (const q of readState(deps.statePath).queued) {
      const endpoint = pool.get(q.id);
      if (!endpoint || !endpoint.config.enabled) continue;
      endpoint.breaker.open('connect', now());
      queue.enqueue(endpoint, Math.min(1_000, queue.settings.initialBackoffMs), q);
    }
  }

  // This process's name in status, metrics and the request log's rows (several replicas set it; else the host's).
  const replicaId = deps.stores?.replicaId ?? hostname();
  const requestLog = RequestLog.open({ file: deps.statsFile, postgres: deps.stores?.postgres, replicaId }, logger);
  // PostgreSQL's rows are read once it answers (connectStores); SQLite's at once.
  if (requestLog && !deps.stores?.postgres) void requestLog.restoreKeys(limiter, now(), logger);
  const recorder = requestLog ? new StatsRecorder(requestLog.sink, () => prices, () => config.stats, logger) : undefined;
  const observers: ProxyObserver[] = [metrics, ...(recorder ? [recorder] : []), ...(deps.observer ? [deps.observer] : [])];
  const observer: ProxyObserver = {
    requestFinished(r: RequestRecord) {
      // One line per request at debug: the request log (SQLite) is the per-request record, and a line per request
      // at the default level doubled the CPU a request cost as shipped (issue #20, item 14). Guarded: at a
      // quieter level not even the log object is built (this runs for every request).
      if (logger.isLevelEnabled('debug')) logger.debug(
        {
          request_id: r.requestId,
          model: r.model,
          endpoint: r.endpointId,
          status: r.status,
          // The chain, so every failover (ambiguous ones included: a reset or timeout after the request was sent) is on record.
          attempts: r.attempts.map((a) => `${a.endpointId}:${a.status ?? a.error ?? '?'}${a.message === undefined ? '' : ` (${a.message})`}`).join(' > '),
          ms: Math.round(r.totalMs),
          end: r.end,
        },
        'request',
      );
      if (r.note !== undefined) logger.warn({ request_id: r.requestId, endpoint: r.endpointId }, r.note);
      for (const o of observers) o.requestFinished(r);
    },
  };

  const timers = deps.timers ?? defaultTimers;
  const health: HealthMonitor = new HealthMonitor({
    dispatcher,
    endpoints: () => pool.all(),
    settings: () => config.health,
    now,
    timers,
    random: deps.random ?? Math.random,
    observer,
  });

  const budget = new RetryBudget();
  const redis = deps.stores?.redis;
  cluster =
    redis &&
    new Cluster({
      settings: { ...deps.stores!, redis },
      pool, health, queue, budget, limiter, now, logger,
      config: {
        current: () => config,
        fileChangedAt: () => (deps.configPath === undefined ? undefined : configFileTime(deps.configPath)),
        // Another replica's change: saved here too (a restart starts from it; a different config this replica
        // started with kept aside) and applied, never shared back.
        adopt: (next, replacing) => {
          if (deps.configPath) replaceConfigFile(deps.configPath, next, replacing);
          app.reload(next);
        },
      },
    });
  const catalog = new ModelCatalog({ dispatcher, endpoints: () => pool.all(), now });
  const keys = { limiter: cluster?.limiter ?? limiter, cost: (r: RequestRecord) => prices.requestCost(r) };
  const proxy = createProxyHandler({ settings: () => config.proxy, pool, budget, dispatcher, now, observer, catalog, keys });
  // Request ids: a random per-process prefix and a counter, unique without a random draw per request.
  const idPrefix = `req_qcc_${randomBytes(8).toString('hex')}`;
  let idCounter = 0;
  const nextRequestId = () => `${idPrefix}${(++idCounter).toString(36).padStart(6, '0')}`;
  const sockets = new Set<Socket>();
  let inflight = 0;
  let closing = false;
  const drainWaiters: (() => void)[] = [];

  registerStoreMetrics(metrics.registry, () => status().stores, replicaId);
  let configProblem: AppStatus['config_problem'] = null;
  const status = (): AppStatus => ({
    version: deps.version ?? '0.0.0',
    pid: process.pid,
    uptime_s: Math.round((Date.now() - started) / 1000),
    strategy: pool.strategyName,
    inflight,
    endpoints: describeEndpoints(pool, now(), (id) => health.lastCheck(id)),
    queue: queue.list(),
    config_problem: configProblem ?? null,
    replica: replicaId,
    stores: {
      state: cluster?.describe() ?? { backend: 'local', state: 'local', limits: 'per-replica' },
      stats: requestLog?.describe(recorder) ?? { backend: 'sqlite', state: 'off' },
    },
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    if (url === '/' && (method === 'HEAD' || method === 'GET')) return answerRoot(res);
    const requestId = nextRequestId();
    if (url.startsWith('/_qcc/') || url.startsWith('/api/')) return adminRoute(req, res, url, requestId);
    if (url === '/dashboard' || url.startsWith('/dashboard/') || url.startsWith('/dashboard?')) {
      if (method !== 'GET' && method !== 'HEAD') return sendProxyError(res, new ProxyError('notFound', 'the dashboard is read with GET'), requestId);
      return dashboardRoute(res, url, requestId);
    }
    if (url === '/metrics' && method === 'GET') {
      // On loopback anyone local may scrape; beyond it, metrics are guarded like the admin API.
      if (publicBind && !adminAuthorized(req)) return sendProxyError(res, new ProxyError('unauthorized', 'admin token required for /metrics'), requestId);
      void metrics.render().then((text) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      });
      return;
    }
    if (!url.startsWith('/v1/')) {
      return sendProxyError(res, new ProxyError('notFound', `qcc serves the Anthropic API under /v1/; nothing at ${url.split('?')[0]}`), requestId);
    }
    proxyRoute(req, res, requestId);
  }

  /** Claude Code's warm-up (`HEAD /`): answered at once, no auth, no upstream. */
  function answerRoot(res: ClientResponse): void {
    // A HEAD gets the same headers without the body (both servers drop it).
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(ROOT_ANSWER.length) });
    res.end(ROOT_ANSWER);
  }

  /** `/v1/*`: from Node's server (any method) and from the front server (the API's own requests). */
  function proxyRoute(req: ClientRequest, res: ClientResponse, requestId: string): void {
    if (closing) return sendProxyError(res, new ProxyError('shuttingDown', 'qcc is shutting down; retry in a moment'), requestId);
    const auth = checkClient(keyring.registry, req, now());
    if (auth instanceof ProxyError) return sendProxyError(res, auth, requestId);
    inflight++;
    res.once('close', () => {
      inflight--;
      if (inflight === 0) drainWaiters.splice(0).forEach((w) => w());
    });
    proxy(req, res, requestId, auth).catch((e: unknown) => {
      logger.error({ err: e, request_id: requestId }, 'unexpected proxy failure');
      if (!res.headersSent) sendProxyError(res, new ProxyError('upstreamUnreachable', 'internal proxy error'), requestId);
      else res.destroy();
    });
  }

  function adminAuthorized(req: IncomingMessage): boolean {
    const presented = req.headers['x-qcc-admin-token'] ?? req.headers.authorization?.replace(/^Bearer\s+/i, '');
    return deps.adminToken !== undefined && typeof presented === 'string' && secretEquals(presented, deps.adminToken);
  }

  let listening: { host: string; port: number } | undefined;
  const demo = new DemoEndpoints(deps.demoEndpoints ?? []);
  /** Serve a config as saved (over the simulated endpoints while it has none); true when they were just replaced. */
  const serveSaved = (saved: Config): boolean => {
    const { config: running, replaced } = demo.serve(saved);
    if (replaced) logger.info({ endpoints: saved.endpoints.map((e) => e.id) }, 'the simulated endpoints are replaced by the configured ones');
    app.reload(running);
    cluster?.configChanged(saved);
    return replaced;
  };
  const admin = createAdminApi({
    config: () => config,
    apply: (next) => {
      const saved = demo.toSave(next);
      if (deps.configPath) saveConfig(deps.configPath, saved);
      const replaced = serveSaved(saved);
      return { persisted: deps.configPath !== undefined, ...(replaced && { note: 'the simulated endpoints are gone: qcc now serves through yours' }) };
    },
    status,
    health,
    pool,
    log: async () => {
      // What was recorded until now is shown: the batch not yet written goes first (bounded wait for PostgreSQL).
      await recorder?.drain(1_000);
      return requestLog?.reader;
    },
    limiter,
    now,
    pepper: () => keyring.pepperForNewKey(),
    origins: () => (listening ? [`http://${listening.host}:${listening.port}`, `http://127.0.0.1:${listening.port}`, `http://localhost:${listening.port}`] : []),
  });

  /** `/_qcc/*` (the CLI) and `/api/*` (the dashboard): the admin token and nothing else opens them. */
  function adminRoute(req: IncomingMessage, res: ServerResponse, url: string, requestId: string): void {
    if (!adminAuthorized(req)) return sendProxyError(res, new ProxyError('unauthorized', 'admin token required: open the URL `qcc dashboard` prints'), requestId);
    if (url === '/_qcc/status' && req.method === 'GET') return sendJson(res, 200, status());
    if (url === '/_qcc/reload' && req.method === 'POST') {
      // The CLI changed the file and wants it in force before it says so (a revoked key refused from the next request).
      if (!deps.configPath) return sendJson(res, 200, { reloaded: false });
      try {
        serveSaved(loadConfig(deps.configPath).config);
        return sendJson(res, 200, { reloaded: true });
      } catch (e: unknown) {
        return sendProxyError(res, new ProxyError('invalidRequest', `the config file was not applied: ${e instanceof Error ? e.message : String(e)}`), requestId);
      }
    }
    void admin(req, res, url, requestId);
  }

  function dashboardRoute(res: ServerResponse, url: string, requestId: string): void {
    const path = url.split('?')[0]!;
    if (path === '/dashboard') return void res.writeHead(308, { location: '/dashboard/', 'content-length': '0' }).end();
    if (!webRootExists()) return sendProxyError(res, new ProxyError('notFound', 'the dashboard is not built; run npm run build'), requestId);
    const file = resolveAsset(path);
    if (!file) return sendProxyError(res, new ProxyError('notFound', `no dashboard file ${path}`), requestId);
    serveAsset(res, file);
  }

  // Requests Node reads (chunked uploads and the like) get the same total time as the front server's bodies.
  const httpServer: Server = createServer({ keepAliveTimeout: KEEP_ALIVE_MS, requestTimeout: Math.max(config.proxy.body_timeout_ms, HEADERS_TIMEOUT_MS), headersTimeout: HEADERS_TIMEOUT_MS }, route);
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Node's own answers (431 for an oversized head, 408 for a slow one, 400 otherwise), with an empty body,
    // and only where no response has started on the connection.
    if (socket.writable && (socket as Socket).bytesWritten === 0) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  });
  const front = new FrontServer({
    fallback: httpServer,
    // The front server takes only `/` (GET, HEAD) and `/v1/*`.
    onRequest: (req, res) => (req.url === '/' ? answerRoot(res) : proxyRoute(req, res, nextRequestId())),
    maxBodyBytes: () => config.proxy.max_body_bytes,
    keepAliveMs: KEEP_ALIVE_MS,
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    bodyIdleTimeoutMs: () => config.proxy.body_idle_timeout_ms,
    bodyTimeoutMs: () => config.proxy.body_timeout_ms,
    maxBufferedBodyBytes: () => config.proxy.max_buffered_body_bytes,
  });
  const server = front.server;
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });

  const app: App = {
    server,
    pool,
    queue,
    metrics,
    limiter,
    health,
    cluster,
    async connectStores(waitMs) {
      const [state, log] = await Promise.all([cluster ? cluster.start(waitMs) : true, requestLog ? requestLog.connect(waitMs) : true]);
      if (log && requestLog && deps.stores?.postgres) await requestLog.restoreKeys(limiter, now(), logger);
      return state && log;
    },
    flushStats: () => recorder?.flush(),
    drainStats: async (timeoutMs) => recorder?.drain(timeoutMs),
    config: () => config,
    status,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        // A deep accept backlog: Node's default (511) overflows when a burst of clients connects at once, and
        // an overflowed SYN waits a whole second to be retried. The kernel caps it at net.core.somaxconn.
        server.listen({ port, host, backlog: 4096 }, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          publicBind = !isLoopbackHost(addr.address);
          listening = { host: addr.family === 'IPv6' ? `[${addr.address}]` : addr.address, port: addr.port };
          // With replicas, the health lease decides where checks run (cluster/lease.ts).
          if (!cluster) health.start();
          warmProtocols();
          const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
          resolve({ url: `http://${shownHost}:${addr.port}`, host: addr.address, port: addr.port });
        });
      });
    },
    async close(drainMs = config.proxy.drain_timeout_ms) {
      closing = true;
      queue.stop();
      health.stop();
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      if (inflight > 0 && drainMs > 0) {
        await Promise.race([
          new Promise<void>((resolve) => drainWaiters.push(resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
        ]);
      }
      for (const s of sockets) s.destroy();
      await closed;
      await dispatcher.destroy();
      await cluster?.close();
      recorder?.close();
      await recorder?.drain(2_000);
      await requestLog?.close();
    },
    reloadFromFile(fileConfig) {
      serveSaved(fileConfig);
    },
    configRejected(problem) {
      // The first failure's time is kept while the file stays invalid: "invalid since".
      if (problem === undefined) configProblem = null;
      else configProblem = { since: configProblem?.since ?? new Date().toISOString(), ...problem };
    },
    reload(next) {
      configProblem = null;
      config = next;
      keyring.reload(next);
      prices = PriceTable.forConfig(next);
      pool.update(next);
      warmProtocols();
      health.reschedule();
      for (const q of queue.list()) {
        const e = pool.get(q.id);
        if (!e || !e.config.enabled) queue.remove(q.id);
      }
    },
  };
  return app;
}

function persistQueue(path: string, queued: QueuedEndpoint[], logger: Logger): void {
  try {
    writeState(path, { version: 1, queued });
  } catch (e: unknown) {
    logger.warn({ err: e }, 'could not persist the failure queue');
  }
}
