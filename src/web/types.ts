/** The shapes the admin API returns (mirrors of the server's types; the web build is compiled on its own). */

export interface EndpointRuntime {
  id: string;
  state: 'healthy' | 'cooling' | 'open' | 'half-open' | 'disabled' | 'queued';
  weight: number;
  effective_weight: number;
  inflight: number;
  requests: number;
  errors: number;
  ttfb_ewma_ms: number | null;
  cooldown_left_ms: number;
  health_score: number | null;
  last_error: string | null;
  last_check: { at: string; model: string; ok: boolean; ttft_ms: number | null; error: string | null } | null;
}

export interface Status {
  version: string;
  uptime_s: number;
  strategy: string;
  inflight: number;
  endpoints: EndpointRuntime[];
}

export interface EndpointView {
  id: string;
  base_url: string;
  enabled: boolean;
  weight: number;
  priority: number;
  protocol: string;
  auth_mode: string;
  models: string[];
  key: string | null;
  has_key: boolean;
  runtime: EndpointRuntime | null;
}

export interface LogEntry {
  id: number;
  time: string;
  request_id: string;
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
  error: string | null;
  attempts: { endpoint: string; status: number | null; ms: number; error: string | null }[];
}

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
  tokens: number;
  cost_usd: number;
  overhead_p50_ms: number | null;
}

export interface HistoryPoint {
  at: number;
  model: string;
  ok: boolean;
  ttft_ms: number | null;
  score: number | null;
  error: string | null;
  change: boolean;
}
