import { Counter, Gauge, Registry } from 'prom-client';
import type { BreakerTransition } from '../endpoints/breaker.js';
import type { EndpointStatus } from '../endpoints/status.js';
import type { ProxyObserver, RequestRecord } from '../proxy/events.js';
import type { PriceTable } from './pricing.js';
import { gcDurations, registerProcessMetrics } from './process-metrics.js';
import { TallyCounter, TallyHistogram, type BucketSeries, type Tally } from './tally.js';

interface Series {
  /** The model label used (a requested name, or "other" past the bound). */
  model: string;
  endpoint: string;
  requests: Map<number, Tally>;
  latency: BucketSeries;
  ttfb: BucketSeries;
  firstContent: BucketSeries;
  input: Tally;
  output: Tally;
  cacheCreation: Tally;
  cacheRead: Tally;
  cost: Tally;
}

const MAX_SERIES = 500;

const STATES = ['healthy', 'cooling', 'open', 'half-open', 'disabled', 'queued'] as const;
const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];

/** Client keys with series of their own; more (never expected: names come from the config) share "other". */
const MAX_KEY_SERIES = 1_000;

/**
 * Prometheus metrics, in a registry of this app's own (never prom-client's global one). The per-request series
 * are tallies (tally.ts): a request adds to numbers it already holds, and the text is made when scraped. Gauges
 * of endpoint state are read from the pool when scraped.
 */
export class ProxyMetrics implements ProxyObserver {
  readonly registry = new Registry();
  private readonly requests: TallyCounter<'endpoint' | 'model' | 'status'>;
  private readonly failovers: TallyCounter<'endpoint'>;
  private readonly transitions: Counter<'endpoint' | 'to'>;
  private readonly upstreamLatency: TallyHistogram<'endpoint'>;
  private readonly ttfb: TallyHistogram<'endpoint'>;
  private readonly overhead: TallyHistogram<never>;
  private readonly overheadAll: BucketSeries;
  private readonly tokens: TallyCounter<'endpoint' | 'model' | 'type'>;
  private readonly cost: TallyCounter<'endpoint' | 'model'>;
  private readonly hedges: TallyCounter<'outcome'>;
  private readonly hedgeSaved: TallyCounter<never>;
  private readonly hedgeTokens: TallyCounter<never>;
  private readonly stalls: TallyCounter<'endpoint'>;
  private readonly firstContent: TallyHistogram<'endpoint'>;
  private readonly keyRequests: TallyCounter<'key' | 'outcome'>;
  private readonly keyTokens: TallyCounter<'key'>;
  private readonly keyCost: TallyCounter<'key'>;
  private readonly keySeries = new Map<string, { admitted: Tally; tokens: Tally; cost: Tally }>();
  private readonly series = new Map<string, Series>();
  /** The process's collections, observed from the first ProxyMetrics on. */
  private readonly gc: TallyHistogram<'kind'>;

  constructor(
    endpoints: () => EndpointStatus[],
    private readonly prices: () => PriceTable,
  ) {
    const registers = [this.registry];
    this.requests = new TallyCounter({ name: 'qcc_requests_total', help: 'Client requests by endpoint that served them, model and status', labelNames: ['endpoint', 'model', 'status'], registers });
    this.failovers = new TallyCounter({ name: 'qcc_failovers_total', help: 'Attempts that failed and were retried on another endpoint, by the endpoint that failed', labelNames: ['endpoint'], registers });
    this.transitions = new Counter({ name: 'qcc_breaker_transitions_total', help: 'Circuit breaker transitions by endpoint and new state', labelNames: ['endpoint', 'to'], registers });
    this.upstreamLatency = new TallyHistogram('qcc_upstream_duration_seconds', 'Duration of successful upstream attempts, whole response', ['endpoint'], LATENCY_BUCKETS);
    this.ttfb = new TallyHistogram('qcc_upstream_ttfb_seconds', 'Time to the upstream response headers', ['endpoint'], LATENCY_BUCKETS);
    this.overhead = new TallyHistogram('qcc_proxy_overhead_seconds', 'Time a request spent in qcc outside upstream attempts (body read, routing, writing)', [], OVERHEAD_BUCKETS);
    this.overheadAll = this.overhead.buckets({});
    this.tokens = new TallyCounter({ name: 'qcc_tokens_total', help: 'Tokens by endpoint, model and type (input, output, cache_creation, cache_read)', labelNames: ['endpoint', 'model', 'type'], registers });
    this.hedges = new TallyCounter({ name: 'qcc_hedges_total', help: 'Hedged requests by how the race ended: won (the hedge answered), lost (the first attempt did), none', labelNames: ['outcome'], registers });
    this.hedgeSaved = new TallyCounter({ name: 'qcc_hedge_saved_seconds_total', help: "Won hedges' time saved: the abandoned attempt's wait beyond the winner's time to first content", labelNames: [], registers });
    this.hedgeTokens = new TallyCounter({ name: 'qcc_hedge_loser_input_tokens_total', help: 'Input tokens the attempts abandoned by a hedge race may have cost (reported, else estimated)', labelNames: [], registers });
    this.stalls = new TallyCounter({ name: 'qcc_stalls_total', help: 'First attempts overtaken by their hedge (no first content in time), by endpoint', labelNames: ['endpoint'], registers });
    this.firstContent = new TallyHistogram('qcc_first_content_seconds', 'Time from the request to the first content the client received, by the endpoint that served it', ['endpoint'], LATENCY_BUCKETS);
    this.keyRequests = new TallyCounter({
      name: 'qcc_client_key_requests_total',
      help: 'Requests by client key (name, or access_keys[N]) and outcome: admitted, or refused by rpm, tpm, budget or model',
      labelNames: ['key', 'outcome'],
      registers,
    });
    this.keyTokens = new TallyCounter({ name: 'qcc_client_key_tokens_total', help: 'Tokens counted towards client keys\' tpm (input, cache writes, output)', labelNames: ['key'], registers });
    this.keyCost = new TallyCounter({ name: 'qcc_client_key_cost_usd_total', help: 'Estimated cost by client key, in US dollars', labelNames: ['key'], registers });
    this.cost = new TallyCounter({ name: 'qcc_cost_usd_total', help: 'Estimated cost in US dollars from the pricing table', labelNames: ['endpoint', 'model'], registers });
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
    registerProcessMetrics(this.registry);
    this.gc = gcDurations();
  }

  requestFinished(r: RequestRecord): void {
    if (r.healthCheck) return;
    const endpoint = r.endpointId ?? 'none';
    const model = r.model ?? 'none';
    const series = this.seriesFor(endpoint, model);
    let byStatus = series.requests.get(r.status);
    if (!byStatus) series.requests.set(r.status, (byStatus = this.requests.tally({ endpoint, model: series.model, status: String(r.status) })));
    byStatus.value++;
    let upstreamMs = 0;
    for (let i = 0; i < r.attempts.length; i++) {
      const a = r.attempts[i]!;
      upstreamMs += a.ms;
      // Failovers are rare: the tally is looked up by label set when one happens. An attempt that lost a hedge
      // race, or a hedge, made way for no failure.
      if (i < r.attempts.length - 1 && a.lost !== true && a.hedge !== true) this.failovers.tally({ endpoint: a.endpointId }).value++;
      if (a.lost === true && a.hedge !== true) this.stalls.tally({ endpoint: a.endpointId }).value++;
    }
    const hedge = r.hedge;
    if (hedge !== undefined) {
      this.hedges.tally({ outcome: hedge.outcome }).value++;
      if (hedge.savedMs !== undefined) this.hedgeSaved.tally({}).value += hedge.savedMs / 1000;
      this.hedgeTokens.tally({}).value += hedge.loserTokens;
    }
    if (r.firstContentMs !== undefined && r.endpointId !== undefined) series.firstContent.observe(r.firstContentMs / 1000);
    if (r.endpointId !== undefined && r.status >= 200 && r.status < 300) {
      series.latency.observe((r.attempts.at(-1)?.ms ?? 0) / 1000);
      if (r.ttfbMs !== undefined) series.ttfb.observe(r.ttfbMs / 1000);
    }
    this.overheadAll.observe(Math.max(0, r.totalMs - upstreamMs) / 1000);
    const u = r.usage;
    let cost = 0;
    if (u) {
      series.input.value += u.input_tokens;
      series.output.value += u.output_tokens;
      series.cacheCreation.value += u.cache_creation_input_tokens;
      series.cacheRead.value += u.cache_read_input_tokens;
      cost = this.prices().requestCost(r);
      if (cost > 0) series.cost.value += cost;
    }
    if (r.clientKey !== undefined) this.countKey(r, cost);
  }

  /** Per client key. Names are the operator's (config), so the label is bounded; still capped, as a guard. */
  private countKey(r: RequestRecord, cost: number): void {
    let name = r.clientKey!;
    if (!this.keySeries.has(name) && this.keySeries.size >= MAX_KEY_SERIES) name = 'other';
    if (r.keyRefusal !== undefined) {
      this.keyRequests.tally({ key: name, outcome: r.keyRefusal }).value++;
      return;
    }
    let k = this.keySeries.get(name);
    if (!k) {
      k = { admitted: this.keyRequests.tally({ key: name, outcome: 'admitted' }), tokens: this.keyTokens.tally({ key: name }), cost: this.keyCost.tally({ key: name }) };
      this.keySeries.set(name, k);
    }
    k.admitted.value++;
    const u = r.usage;
    if (u) k.tokens.value += u.input_tokens + u.cache_creation_input_tokens + u.output_tokens;
    if (cost > 0) k.cost.value += cost;
  }

  /** The series of one (endpoint, model), made once and kept: a request then only adds to them. */
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
        endpoint,
        requests: new Map(),
        latency: this.upstreamLatency.buckets({ endpoint }),
        ttfb: this.ttfb.buckets({ endpoint }),
        firstContent: this.firstContent.buckets({ endpoint }),
        input: this.tokens.tally({ endpoint, model, type: 'input' }),
        output: this.tokens.tally({ endpoint, model, type: 'output' }),
        cacheCreation: this.tokens.tally({ endpoint, model, type: 'cache_creation' }),
        cacheRead: this.tokens.tally({ endpoint, model, type: 'cache_read' }),
        cost: this.cost.tally({ endpoint, model }),
      };
      this.series.set(key, s);
    }
    return s;
  }

  breakerTransition(endpoint: string, t: BreakerTransition): void {
    this.transitions.inc({ endpoint, to: t.to });
  }

  async render(): Promise<string> {
    const text = await this.registry.metrics();
    // prom-client ends its text with a newline and parts metrics with a blank line; the histograms follow suit.
    return `${text}\n${[this.upstreamLatency, this.ttfb, this.firstContent, this.overhead, this.gc].map((h) => h.render()).join('\n\n')}\n`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
