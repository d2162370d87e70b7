/**
 * The shapes the admin API and `--json` outputs return: one definition, imported (as types only) by the server
 * modules that produce them and by the dashboard that reads them, so the two cannot drift apart.
 * Types only — this file must not import anything.
 */

export type EndpointState = 'healthy' | 'cooling' | 'open' | 'half-open' | 'disabled' | 'queued';

/** How an endpoint is reached (its proxy URL masked). */
export interface RouteInfo {
  via: 'direct' | 'proxy';
  /** What decided it: the endpoint's `proxy`, `proxy.upstream_proxy`, a proxy variable, `NO_PROXY`, a loopback host, or nothing set. */
  source: 'endpoint' | 'config' | 'env' | 'no_proxy' | 'loopback' | 'none';
  /** `direct`, `via socks5h://127.0.0.1:1080`, `via env HTTPS_PROXY (http://user:***@proxy:3128)`. */
  label: string;
  proxy_url: string | null;
}

/** Per endpoint in `qcc proxy status --json` and the admin API: stable, secrets never included. */
export interface EndpointStatus {
  id: string;
  base_url: string;
  enabled: boolean;
  state: EndpointState;
  priority: number;
  weight: number;
  effective_weight: number;
  inflight: number;
  requests: number;
  errors: number;
  /** Hedge races this endpoint lost for want of a first token (a lower bound on its latency went into ttfb_ewma_ms). */
  stalls: number;
  /** A simulated endpoint (`--demo`): its traffic costs nothing. */
  simulated: boolean;
  ttfb_ewma_ms: number | null;
  consecutive_failures: number;
  cooldown_left_ms: number;
  keys_total: number;
  keys_usable: number | null;
  health_score: number | null;
  last_error: string | null;
  route: RouteInfo;
  last_check: { at: string; model: string; ok: boolean; ttft_ms: number | null; error: string | null } | null;
}

export interface QueueEntry {
  id: string;
  since: number;
  checks: number;
  nextCheckInMs: number;
}

export interface AppStatus {
  version: string;
  pid: number;
  uptime_s: number;
  strategy: string;
  inflight: number;
  endpoints: EndpointStatus[];
  queue: QueueEntry[];
  /** The config file on disk failed to load since `since` (ISO time); the proxy runs with the last valid one. */
  config_problem: { since: string; file: string; problem: string } | null;
  /** This replica's name (host name or QCC_REPLICA_ID) and where it keeps shared state and the request log. */
  replica: string;
  stores: { state: StateStoreStatus; stats: StatsStoreStatus };
}

/** Shared state: this process's memory, or Redis (with whether it is reachable and what that means now). */
export interface StateStoreStatus {
  backend: 'local' | 'redis';
  /** The Redis URL, password masked. */
  url?: string;
  /** "connected", or "degraded": Redis is unreachable and the replica serves on its own state. */
  state: 'local' | 'connected' | 'degraded';
  /** Degraded since (ISO time). */
  since?: string | null;
  error?: string | null;
  /** Client keys' limits hold across all replicas (Redis reachable), or per replica. */
  limits: 'shared' | 'per-replica';
  /** The replica running health checks for all (the lease holder); this one when alone. */
  health_checker?: string | null;
  /** Admissions decided alone during an outage, not yet written to Redis. */
  pending_merge?: number;
  /** The shared config's version this replica runs (Redis's counter; 0 before the first). */
  config_version?: number;
}

export interface StatsStoreStatus {
  backend: 'sqlite' | 'postgres';
  url?: string;
  state: 'ok' | 'degraded' | 'off';
  error?: string | null;
  /** Rows waiting to be written (PostgreSQL unreachable or slow); beyond the bound they are dropped and counted. */
  buffered?: number;
  dropped?: number;
}

/** One request of the log (`qcc logs --json`, the dashboard's Requests page). */
export interface LogEntry {
  id: number;
  time: string;
  request_id: string;
  method: string;
  path: string;
  model: string | null;
  stream: boolean;
  endpoint: string | null;
  status: number;
  ok: boolean;
  ttfb_ms: number | null;
  total_ms: number;
  tokens: { input: number; output: number; cache_creation: number; cache_read: number };
  cost_usd: number;
  health_check: boolean;
  /** Who made it: a client key's name or `access_keys[N]`; null on an open proxy. */
  key: string | null;
  error: string | null;
  end: string | null;
  /** From arrival to the first content the client received. */
  first_content_ms: number | null;
  /** Set when a hedge was sent: how its race ended, the time it saved and the tokens the abandoned attempt may have cost. */
  hedge: { outcome: 'won' | 'lost' | 'none'; saved_ms: number | null; loser_tokens: number } | null;
  /** In the order they started; `hedge`: sent as a hedge; `lost`: stopped because the other attempt answered first. */
  attempts: {
    endpoint: string;
    status: number | null;
    ms: number;
    error: string | null;
    message?: string;
    /** The failure in a person's words, where its message names a socket error ("connection refused"). */
    reason?: string;
    hedge?: boolean;
    lost?: boolean;
  }[];
  /** The replica that served it (a log shared by replicas, in PostgreSQL). */
  replica?: string | null;
}

/** Hedged requests over a period (`qcc stats`, the dashboard). */
export interface HedgeSummary {
  /** Requests that sent a hedge. */
  sent: number;
  /** Of them, those the hedge answered. */
  won: number;
  win_rate: number | null;
  /** Sum of the won hedges' time saved (the abandoned attempt's wait beyond the winner's time to first content). */
  saved_ms: number;
  /** Input tokens the abandoned attempts may have cost. */
  loser_tokens: number;
}

/** One slice of time in the dashboard's charts. */
export interface Bucket {
  t: number;
  requests: number;
  rps: number;
  success_rate: number | null;
  failovers: number;
  p50_ms: number | null;
  p95_ms: number | null;
  ttfb_p50_ms: number | null;
  ttfb_p95_ms: number | null;
  /** The client's time to first content. */
  first_content_p50_ms: number | null;
  first_content_p95_ms: number | null;
  /** Requests that sent a hedge, and those the hedge answered. */
  hedges: number;
  hedges_won: number;
  /** Won hedges' time saved, summed, and the input tokens abandoned attempts may have cost. */
  hedge_saved_ms: number;
  hedge_loser_tokens: number;
  tokens: number;
  cost_usd: number;
  overhead_p50_ms: number | null;
}

/** One health check in an endpoint's history. */
export interface HistoryPoint {
  at: number;
  model: string;
  ok: boolean;
  ttft_ms: number | null;
  score: number | null;
  error: string | null;
  /** True when this check changed the verdict from the one before. */
  change: boolean;
}

/** An endpoint as the admin API shows it: its settings with the key masked, and its live state. */
/** `GET /api/presets`: vendors' settings the add form starts from (config/presets.ts). */
export interface PresetView {
  id: string;
  name: string;
  base_url: string;
  protocol?: 'bedrock' | 'vertex';
  key_hint: string;
  models?: string[];
  model_map?: Record<string, string>;
}

export interface EndpointView {
  id: string;
  /** As configured; absent for a cloud endpoint reached at its regional host. */
  base_url?: string | undefined;
  /** Where it is reached: base_url, or the cloud's regional host. */
  address: string;
  bedrock?: { region: string; profile?: string | undefined; profiles?: string[] | undefined; inference_profile: string } | undefined;
  vertex?: { project: string; region: string; credentials_file?: string | undefined; credentials_files?: string[] | undefined } | undefined;
  price_factor?: number | undefined;
  enabled: boolean;
  weight: number;
  priority: number;
  protocol: string;
  auth_mode: string;
  models: string[];
  model_map: Record<string, string>;
  max_concurrency?: number | undefined;
  openai: { reasoning: string; map_effort: boolean };
  health_models?: string[] | undefined;
  oauth_passthrough?: boolean | undefined;
  /** Its own proxy setting, password masked: a URL or "direct"; absent: the default route. */
  proxy?: string | undefined;
  /** Masked (`sk-ant-…abcd`), "N keys" for a pool, how a cloud endpoint authenticates, or null when the client's own key is passed through. */
  key: string | null;
  has_key: boolean;
  runtime: EndpointStatus | null;
}

/** `GET /api/settings`: the proxy, health and stats settings, secrets left out. */
export interface SettingsView {
  proxy: {
    host: string;
    port: number;
    strategy: string;
    session_affinity: boolean;
    first_byte_timeout_ms: number;
    non_stream_timeout_ms: number;
    idle_timeout_ms: number;
    max_body_bytes: number;
    drain_timeout_ms: number;
    body_idle_timeout_ms: number;
    body_timeout_ms: number;
    max_buffered_body_bytes: number;
    /** Masked; null when unset (the environment decides). */
    upstream_proxy: string | null;
    /** How many access keys are set (the keys themselves never leave the server). */
    access_keys: number;
    hedge: { enabled: boolean; after_ms: 'auto' | number; max_ratio: number; min_ms: number; max_ms: number; non_streaming: boolean };
  };
  health: { interval_s: number; models: string[]; timeout_ms: number; concurrency: number; max_tokens: number };
  stats: { enabled: boolean; retention_days: number; max_db_mb: number; flush_ms: number };
}

/** A client key's usage in its current windows (keys/limiter.ts). */
export interface KeyUsageView {
  requests_last_minute: number;
  tokens_last_minute: number;
  /** Tokens reserved by the key's requests in flight. */
  tokens_reserved: number;
  inflight: number;
  budget?: { spent_usd: number; limit_usd: number; per: string; resets_at: string };
  last_used: string | null;
  /** Since the proxy started. */
  admitted: number;
  refused: { rpm: number; tpm: number; budget: number; model: number };
}

/** A client key as the CLI and the dashboard see it: never its secret, nor its hash. */
export interface ClientKeyView {
  name: string;
  /** Its first characters, to recognise it by (`qcc-AbC123`). */
  prefix: string;
  rpm: number | null;
  tpm: number | null;
  budget: { usd: number; per: 'day' | 'week' | 'month' } | null;
  models: string[] | null;
  endpoints: string[] | null;
  expires_at: string | null;
  note: string | null;
  created_at: string;
  revoked_at: string | null;
  rotated_at: string | null;
  state: 'active' | 'revoked' | 'expired';
  usage: KeyUsageView;
}
