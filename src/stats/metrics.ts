import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerTransition } from '../endpoints/breaker.js';
import type { EndpointStatus } from '../endpoints/status.js';
import type { ProxyObserver, RequestRecord } from '../proxy/events.js';
import type { PriceTable } from './pricing.js';

interface Inc {
  inc(value?: number): void;
}
interface Observe {
  observe(value: number): void;
}
interface Series {
  /** The model label used (a requested name, or "other" past the bound). */
  model: string;
  requests: Map<number, Inc>;
  latency: Observe;
  ttfb: Observe;
  input: Inc;
  output: Inc;
  cacheCreation: Inc;
  cacheRead: Inc;
  cost: Inc;
}

const MAX_SERIES = 500;

const STATES = ['healthy', 'cooling', 'open', 'half-open', 'disabled', 'queued'] as const;
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

/**
 * Prometheus metrics, in a registry of this app's own (never prom-client's global one). Counters move with
 * each request record; gauges of endpoint state are read from the pool when scraped.
 */
export class ProxyMetrics implements ProxyObserver {
  readonly registry = new Registry();
  private readonly requests: Counter<'endpoint' | 'model' | 'status'>;
  private readonly failovers: Counter<'endpoint'>;
  private readonly transitions: Counter<'endpoint' | 'to'>;
  private readonly upstreamLatency: Histogram<'endpoint'>;
  private readonly ttfb: Histogram<'endpoint'>;
  private readonly overhead: Histogram;
  private readonly tokens: Counter<'endpoint' | 'model' | 'type'>;
  private readonly cost: Counter<'endpoint' | 'model'>;
  private readonly series = new Map<string, Series>();

  constructor(
    endpoints: () => EndpointStatus[],
    private readonly prices: () => PriceTable,
  ) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'qcc_requests_total', help: 'Client requests by endpoint that served them, model and status', labelNames: ['endpoint', 'model', 'status'], registers });
    this.failovers = new Counter({ name: 'qcc_failovers_total', help: 'Attempts that failed and were retried on another endpoint, by the endpoint that failed', labelNames: ['endpoint'], registers });
    this.transitions = new Counter({ name: 'qcc_breaker_transitions_total', help: 'Circuit breaker transitions by endpoint and new state', labelNames: ['endpoint', 'to'], registers });
    this.upstreamLatency = new Histogram({ name: 'qcc_upstream_duration_seconds', help: 'Duration of successful upstream attempts, whole response', labelNames: ['endpoint'], buckets: LATENCY_BUCKETS, registers });
    this.ttfb = new Histogram({ name: 'qcc_upstream_ttfb_seconds', help: 'Time to the upstream response headers', labelNames: ['endpoint'], buckets: LATENCY_BUCKETS, registers });
    this.overhead = new Histogram({ name: 'qcc_proxy_overhead_seconds', help: 'Time a request spent in qcc outside upstream attempts (body read, routing, writing)', buckets: OVERHEAD_BUCKETS, registers });
    this.tokens = new Counter({ name: 'qcc_tokens_total', help: 'Tokens by endpoint, model and type (input, output, cache_creation, cache_read)', labelNames: ['endpoint', 'model', 'type'], registers });
    this.cost = new Counter({ name: 'qcc_cost_usd_total', help: 'Estimated cost in US dollars from the pricing table', labelNames: ['endpoint', 'model'], registers });
    new Gauge({
      name: 'qcc_inflight_requests',
      help: 'Requests in flight per endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const e of endpoints()) this.set({ endpoint: e.id }, e.inflight);
      },
    });
    new Gauge({
      name: 'qcc_endpoint_state',
      help: 'Endpoint state: 1 for the current state, 0 for the others',
      labelNames: ['endpoint', 'state'],
      registers,
      collect() {
        this.reset();
        for (const e of endpoints()) for (const s of STATES) this.set({ endpoint: e.id, state: s }, e.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'qcc_endpoint_effective_weight',
      help: 'Configured weight times the measured factor',
      labelNames: ['endpoint'],
      registers,
      collect() {
        this.reset();
        for (const e of endpoints()) this.set({ endpoint: e.id }, e.effective_weight);
      },
    });
  }

  requestFinished(r: RequestRecord): void {
    if (r.healthCheck) return;
    const endpoint = r.endpointId ?? 'none';
    const model = r.model ?? 'none';
    const series = this.seriesFor(endpoint, model);
    let byStatus = series.requests.get(r.status);
    if (!byStatus) series.requests.set(r.status, (byStatus = this.requests.labels(endpoint, series.model, String(r.status))));
    byStatus.inc();
    let upstreamMs = 0;
    for (let i = 0; i < r.attempts.length; i++) {
      const a = r.attempts[i]!;
      upstreamMs += a.ms;
      if (i < r.attempts.length - 1) this.failovers.labels(a.endpointId).inc();
    }
    if (r.endpointId !== undefined && r.status >= 200 && r.status < 300) {
      series.latency.observe((r.attempts.at(-1)?.ms ?? 0) / 1000);
      if (r.ttfbMs !== undefined) series.ttfb.observe(r.ttfbMs / 1000);
    }
    this.overhead.observe(Math.max(0, r.totalMs - upstreamMs) / 1000);
    const u = r.usage;
    if (u) {
      if (u.input_tokens) series.input.inc(u.input_tokens);
      if (u.output_tokens) series.output.inc(u.output_tokens);
      if (u.cache_creation_input_tokens) series.cacheCreation.inc(u.cache_creation_input_tokens);
      if (u.cache_read_input_tokens) series.cacheRead.inc(u.cache_read_input_tokens);
      const cost = this.prices().cost(r.model, u);
      if (cost > 0) series.cost.inc(cost);
    }
  }

  /**
   * Label children per (endpoint, model), made once: prom-client hashes a label set on every `inc` otherwise,
   * and this runs for every request.
   */
  private seriesFor(endpoint: string, requestedModel: string): Series {
    let model = requestedModel;
    let key = `${endpoint}\u0000${model}`;
    let s = this.series.get(key);
    if (!s && this.series.size >= MAX_SERIES) {
      // Model names come from clients: past a bound, new ones share one label instead of growing memory forever.
      model = 'other';
      key = `${endpoint}\u0000${model}`;
      s = this.series.get(key);
    }
    if (!s) {
      s = {
        model,
        requests: new Map(),
        latency: this.upstreamLatency.labels(endpoint),
        ttfb: this.ttfb.labels(endpoint),
        input: this.tokens.labels(endpoint, model, 'input'),
        output: this.tokens.labels(endpoint, model, 'output'),
        cacheCreation: this.tokens.labels(endpoint, model, 'cache_creation'),
        cacheRead: this.tokens.labels(endpoint, model, 'cache_read'),
        cost: this.cost.labels(endpoint, model),
      };
      this.series.set(key, s);
    }
    return s;
  }

  breakerTransition(endpoint: string, t: BreakerTransition): void {
    this.transitions.inc({ endpoint, to: t.to });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
