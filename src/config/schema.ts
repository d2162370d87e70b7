import { z } from 'zod';
import { isProxySpec, parseProxyUrl } from '../shared/proxy-url.js';
import { baseUrlProblem } from './url-rule.js';

/**
 * The only config type. The file format is QCC's, snake_case, version 1. Defaults live here so that a minimal
 * file (`{"version":1,"endpoints":[...]}`) is complete after parsing.
 */

export const AUTH_MODES = ['auto', 'x-api-key', 'bearer'] as const;
export const STRATEGIES = ['weighted-round-robin', 'least-connections', 'fastest', 'priority', 'random'] as const;

const ENDPOINT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const baseUrl = z
  .string()
  .refine((s) => {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL such as "https://api.anthropic.com"');

/** An outbound proxy URL (http, https, socks5, socks5h; `user:pass@` allowed) or `"direct"`. */
const proxySetting = z.string().superRefine((s, ctx) => {
  if (s === 'direct') return;
  const spec = parseProxyUrl(s);
  if (!isProxySpec(spec)) ctx.addIssue({ code: 'custom', message: spec.problem });
});

export const PROTOCOLS = ['anthropic', 'openai', 'bedrock', 'vertex'] as const;

/** AWS region names as AWS writes them: us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4, … */
const AWS_REGION = /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d{1,2}$/;
/** Google Cloud regions (us-east5, europe-west1, asia-southeast1) or "global". */
const GCP_REGION = /^(global|[a-z]+-[a-z]+\d{1,2})$/;

/** Claude on Amazon Bedrock: signed with SigV4 from the standard AWS credential chain, or a Bedrock API key (`api_key`). */
export const bedrockSchema = z
  .object({
    region: z.string().regex(AWS_REGION, 'must be an AWS region such as "us-east-1"'),
    /** A profile of ~/.aws/config and ~/.aws/credentials (SSO included); absent: AWS_PROFILE, else the default chain. */
    profile: z.string().min(1).optional(),
    /** Several profiles (accounts), rotated as a key pool: a throttled or refused one is set aside for the next. */
    profiles: z.array(z.string().min(1)).min(1, 'list at least one profile, or leave the field out').optional(),
    /**
     * Cross-region inference profile prefix for the built-in model ids: "auto" takes it from the region
     * (us-…→"us", eu-…→"eu", ap-…→"apac"), "global" uses the global profiles, "none" the plain regional ids.
     */
    inference_profile: z.enum(['auto', 'us', 'eu', 'apac', 'global', 'none']).default('auto'),
  })
  .strict()
  .refine((b) => !(b.profile !== undefined && b.profiles !== undefined), { message: 'set either "profile" or "profiles", not both', path: ['profiles'] });

/** Claude on Google Vertex AI: a service-account key file, else Application Default Credentials. */
export const vertexSchema = z
  .object({
    project: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id such as "my-project-123"'),
    region: z.string().regex(GCP_REGION, 'must be a Vertex AI region such as "us-east5", or "global"'),
    /** A service account's JSON key file; absent: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server). */
    credentials_file: z.string().min(1).optional(),
    /** Several service accounts' key files, rotated as a key pool (quota is per project and account). */
    credentials_files: z.array(z.string().min(1)).min(1, 'list at least one file, or leave the field out').optional(),
  })
  .strict()
  .refine((v) => !(v.credentials_file !== undefined && v.credentials_files !== undefined), { message: 'set either "credentials_file" or "credentials_files", not both', path: ['credentials_files'] });

export const endpointSchema = z
  .object({
    id: z.string().regex(ENDPOINT_ID, 'use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
    /** Required for "anthropic" and "openai"; for "bedrock" and "vertex" it overrides the regional host. */
    base_url: baseUrl.optional(),
    api_key: z.string().min(1, 'must not be empty; leave the field out to pass the client\'s own credentials through').optional(),
    api_keys: z.array(z.string().min(1)).min(1, 'list at least one key, or leave the field out').optional(),
    auth_mode: z.enum(AUTH_MODES).default('auto'),
    /** Models it serves: exact names, or prefixes ending in "*" ("claude-sonnet-*"); empty: all. */
    models: z.array(z.string().min(1)).default([]),
    /** Model names rewritten for it: keys exact, or prefixes ending in "*" (the longest matching prefix wins). */
    model_map: z.record(z.string(), z.string().min(1)).default({}),
    weight: z.number().positive('must be greater than 0').max(1000).default(1),
    priority: z.number().int().min(0).max(1000).default(0),
    enabled: z.boolean().default(true),
    max_concurrency: z.number().int().positive().optional(),
    /** Wire protocol: Anthropic Messages, OpenAI Chat Completions (translated both ways), Amazon Bedrock or Google Vertex AI. */
    protocol: z.enum(PROTOCOLS).default('anthropic'),
    bedrock: bedrockSchema.optional(),
    vertex: vertexSchema.optional(),
    /** OpenAI endpoints only: what reasoning text becomes, and whether `output_config.effort` maps to `reasoning_effort`. */
    openai: z
      .object({ reasoning: z.enum(['thinking', 'drop']).default('thinking'), map_effort: z.boolean().default(false) })
      .strict()
      .default({ reasoning: 'thinking', map_effort: false }),
    /** Models the health check uses for this endpoint; default: `health.models` it serves, else its first model. */
    health_models: z.array(z.string().min(1)).min(1).optional(),
    /** How to reach it: a proxy URL or "direct"; absent: `proxy.upstream_proxy`, else the proxy environment variables. */
    proxy: proxySetting.optional(),
    /**
     * Send clients' claude.ai subscription (OAuth) tokens to this endpoint although it is not api.anthropic.com
     * (only matters without a key of its own). Off: such requests skip it.
     */
    oauth_passthrough: z.boolean().optional(),
    /** Allow a plain `http://` base URL to a host that is not this machine (a LAN relay): keys go in clear text. */
    allow_insecure_http: z.boolean().optional(),
    /**
     * Its prices relative to the list prices (`pricing`): 1.1 for a cloud's regional endpoints where they bill 10 %
     * over the global price, a reseller's margin, 0 for traffic already paid for.
     */
    price_factor: z.number().min(0).max(100).optional(),
    /** A simulated endpoint (`qcc proxy start --demo`): its traffic is marked as such and costs nothing. */
    simulated: z.boolean().optional(),
  })
  .strict()
  .refine((e) => !(e.api_key !== undefined && e.api_keys !== undefined), {
    message: 'set either "api_key" or "api_keys", not both',
    path: ['api_keys'],
  })
  .superRefine((e, ctx) => {
    const cloud = e.protocol === 'bedrock' || e.protocol === 'vertex';
    if (e.protocol === 'bedrock' && e.bedrock === undefined) ctx.addIssue({ code: 'custom', path: ['bedrock'], message: 'a Bedrock endpoint needs "bedrock": { "region": "us-east-1" } (and optionally "profile")' });
    if (e.protocol === 'vertex' && e.vertex === undefined) ctx.addIssue({ code: 'custom', path: ['vertex'], message: 'a Vertex endpoint needs "vertex": { "project": "…", "region": "us-east5" } (and optionally "credentials_file")' });
    if (e.protocol !== 'bedrock' && e.bedrock !== undefined) ctx.addIssue({ code: 'custom', path: ['bedrock'], message: 'only for "protocol": "bedrock"' });
    if (e.protocol !== 'vertex' && e.vertex !== undefined) ctx.addIssue({ code: 'custom', path: ['vertex'], message: 'only for "protocol": "vertex"' });
    if (e.bedrock?.profiles !== undefined && (e.api_key !== undefined || e.api_keys !== undefined)) ctx.addIssue({ code: 'custom', path: ['bedrock', 'profiles'], message: 'a pool of AWS profiles signs requests; a Bedrock API key replaces signing: set one or the other' });
    if (e.protocol === 'vertex' && (e.api_key !== undefined || e.api_keys !== undefined)) ctx.addIssue({ code: 'custom', path: ['api_key'], message: 'Vertex authenticates with a service account ("vertex.credentials_file") or Application Default Credentials, not an API key' });
    if (e.base_url === undefined) {
      if (!cloud) ctx.addIssue({ code: 'custom', path: ['base_url'], message: 'required: the endpoint\'s address, such as "https://api.anthropic.com"' });
      return;
    }
    const problem = baseUrlProblem(e.base_url, e.allow_insecure_http === true);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['base_url'], message: problem });
  });

/**
 * Hedged first tokens (see proxy/race.ts): a streaming request with no first content after a delay is also sent to
 * another endpoint; the first to produce content answers and the other is abandoned.
 */
export const hedgeSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** "auto": the endpoint's measured p95 time to first content for the model, within min_ms..max_ms. */
    after_ms: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
    /** Hedges allowed, as a share of the requests of the last minute (plus three a minute always allowed). */
    max_ratio: z.number().min(0).max(1).default(0.05),
    min_ms: z.number().int().positive().default(2_000),
    max_ms: z.number().int().positive().default(15_000),
    /** Also hedge non-streaming requests (a loser may have generated a whole answer by the time it is abandoned). */
    non_streaming: z.boolean().default(false),
  })
  .strict()
  .refine((h) => h.min_ms <= h.max_ms, { message: 'min_ms must not exceed max_ms', path: ['min_ms'] });

export const proxySchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(7860),
    access_keys: z.array(z.string().min(8, 'access keys must be at least 8 characters')).default([]),
    strategy: z.enum(STRATEGIES).default('weighted-round-robin'),
    session_affinity: z.boolean().default(true),
    /** Time allowed for an upstream's response headers on a streaming request. */
    first_byte_timeout_ms: z.number().int().positive().default(60_000),
    /** Non-streaming calls answer only when done; long generations legitimately take minutes. */
    non_stream_timeout_ms: z.number().int().positive().default(600_000),
    /** Longest silence allowed between two chunks of a response body. */
    idle_timeout_ms: z.number().int().positive().default(300_000),
    max_body_bytes: z.number().int().positive().default(32 * 1024 * 1024),
    /** A request body must keep arriving (no longer silence) and be complete within the total; else 408. */
    body_idle_timeout_ms: z.number().int().positive().default(30_000),
    body_timeout_ms: z.number().int().positive().default(120_000),
    /** Request body bytes held across all clients at once; beyond it new requests get a 503 without being read. */
    max_buffered_body_bytes: z.number().int().positive().default(256 * 1024 * 1024),
    drain_timeout_ms: z.number().int().nonnegative().default(10_000),
    /** Outbound proxy for endpoints that set none (loopback ones excepted): a URL or "direct" (ignore the environment). */
    upstream_proxy: proxySetting.optional(),
    hedge: hedgeSchema.default(() => hedgeSchema.parse({})),
  })
  .strict();

export const healthSchema = z
  .object({
    /** Seconds between checks of a healthy endpoint (±10 % jitter); 0 turns periodic checks off. */
    interval_s: z.number().nonnegative().default(300),
    models: z.array(z.string().min(1)).min(1).default(['claude-haiku-4-5-20251001']),
    timeout_ms: z.number().int().positive().default(30_000),
    /** Checks running at once across all endpoints (never more than one per endpoint). */
    concurrency: z.number().int().positive().max(16).default(2),
    max_tokens: z.number().int().positive().max(1024).default(16),
  })
  .strict();

/** A SQL identifier qcc creates and quotes itself. */
const SQL_NAME = /^[A-Za-z][A-Za-z0-9_]{0,62}$/;

function databaseUrl(protocols: readonly string[], example: string) {
  return z.string().refine((s) => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, `must be a URL such as "${example}"`);
}

export const statsSchema = z
  .object({
    enabled: z.boolean().default(true),
    retention_days: z.number().positive().default(30),
    max_db_mb: z.number().positive().default(512),
    /** Rows are written in batches this often, off the request path; a crash loses at most one window. */
    flush_ms: z.number().int().positive().max(60_000).default(250),
    /** Where the request log lives: this machine's SQLite file, or a PostgreSQL database shared by replicas. */
    backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
    /** `postgres://user:pass@host:5432/db`; QCC_DATABASE_URL wins over it (and alone selects PostgreSQL). */
    postgres_url: databaseUrl(['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/qcc').optional(),
    /** The schema holding qcc's tables (created at start); one per deployment. */
    postgres_schema: z.string().regex(SQL_NAME, 'use letters, digits and "_", starting with a letter').default('qcc'),
  })
  .strict();

/**
 * State replicas share (endpoint health, cooldowns, limits, sessions, the health lease, the config): this process's
 * memory, or Redis for several replicas behind one load balancer (cluster/).
 */
export const stateSchema = z
  .object({
    backend: z.enum(['local', 'redis']).default('local'),
    /** `redis://[:password@]host:6379[/db]` or `rediss://…`; QCC_REDIS_URL wins over it (and alone selects Redis). */
    redis_url: databaseUrl(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').optional(),
    /** Prefix of every key and channel: replicas with the same prefix are one deployment. */
    key_prefix: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9:._-]{0,63}$/, 'use letters, digits, ":", ".", "_" or "-"').default('qcc'),
    /** How long the health checker's lease lasts without renewal: a dead holder is replaced within it. */
    lease_ms: z.number().int().min(1_000).max(300_000).default(10_000),
    /** Longest wait for Redis on the request path (a limit's admission); past it the replica decides alone. */
    timeout_ms: z.number().int().min(5).max(5_000).default(50),
  })
  .strict();

export const BUDGET_PERIODS = ['day', 'week', 'month'] as const;
export const CLIENT_KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/**
 * A team member's key (see keys/): who may call the proxy, within which limits. Only the key's keyed hash is
 * kept (`hash`), with its first characters (`prefix`) to recognise it by; the secret is shown once, at creation.
 */
export const clientKeySchema = z
  .object({
    name: z.string().regex(CLIENT_KEY_NAME, 'use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit'),
    hash: z.string().regex(/^hmac-sha256:[0-9a-f]{64}$/, 'must be "hmac-sha256:" and 64 hex digits, as `qcc key add` writes it'),
    prefix: z.string().min(4),
    /** Requests per minute (a sliding minute). */
    rpm: z.number().int().positive().optional(),
    /** Input + output tokens per minute (a sliding minute; cache reads not counted, as in Anthropic's own limits). */
    tpm: z.number().int().positive().optional(),
    /** US dollars per calendar day, ISO week (from Monday) or month, in UTC. */
    budget: z.object({ usd: z.number().positive(), per: z.enum(BUDGET_PERIODS) }).strict().optional(),
    /** Models the key may use: exact names, or prefixes ending in "*" ("claude-haiku-*"); absent: all. */
    models: z.array(z.string().min(1)).min(1, 'list at least one model, or leave the field out').optional(),
    /** Endpoints the key's requests may go to; absent: all. */
    endpoints: z.array(z.string().min(1)).min(1, 'list at least one endpoint, or leave the field out').optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    note: z.string().max(500).optional(),
    created_at: z.iso.datetime({ offset: true }),
    /** Revoked keys stay listed (their usage history keeps its name) but are refused. */
    revoked_at: z.iso.datetime({ offset: true }).optional(),
    rotated_at: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();

const priceSchema = z
  .object({
    input: z.number().nonnegative(),
    output: z.number().nonnegative(),
    cache_write: z.number().nonnegative().optional(),
    cache_read: z.number().nonnegative().optional(),
  })
  .strict();

export const configSchema = z
  .object({
    version: z.literal(1, { error: 'must be 1 (the only config version this qcc knows)' }),
    proxy: proxySchema.default(() => proxySchema.parse({})),
    endpoints: z.array(endpointSchema).default([]),
    stats: statsSchema.default(() => statsSchema.parse({})),
    state: stateSchema.default(() => stateSchema.parse({})),
    health: healthSchema.default(() => healthSchema.parse({})),
    /** USD per million tokens, by model name prefix or family ("opus", "sonnet", "haiku"). */
    pricing: z.record(z.string(), priceSchema).default({}),
    /** Team members' keys with their limits (`qcc key add`); none: the proxy is open as before (or guarded by access_keys). */
    client_keys: z.array(clientKeySchema).default([]),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.endpoints.forEach((e, i) => {
      if (seen.has(e.id)) {
        ctx.addIssue({ code: 'custom', path: ['endpoints', i, 'id'], message: `duplicate id "${e.id}": ids must be unique` });
      }
      seen.add(e.id);
    });
    const names = new Set<string>();
    cfg.client_keys.forEach((k, i) => {
      if (names.has(k.name)) ctx.addIssue({ code: 'custom', path: ['client_keys', i, 'name'], message: `duplicate key name "${k.name}": names must be unique` });
      names.add(k.name);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type EndpointConfig = z.infer<typeof endpointSchema>;
export type ProxySettings = z.infer<typeof proxySchema>;
export type StatsSettings = z.infer<typeof statsSchema>;
export type StateSettings = z.infer<typeof stateSchema>;
export type HealthSettings = z.infer<typeof healthSchema>;
export type HedgeSettings = z.infer<typeof hedgeSchema>;
export type ClientKeyConfig = z.infer<typeof clientKeySchema>;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type AuthMode = (typeof AUTH_MODES)[number];
export type StrategyName = (typeof STRATEGIES)[number];

export function defaultConfig(): Config {
  return configSchema.parse({ version: 1 });
}

/**
 * Where an endpoint is reached: its `base_url`, or for a cloud endpoint without one, the regional host
 * (bedrock-runtime.REGION.amazonaws.com; REGION-aiplatform.googleapis.com, aiplatform.googleapis.com for "global").
 */
export function endpointBaseUrl(e: EndpointConfig): string {
  if (e.base_url !== undefined) return e.base_url;
  if (e.bedrock !== undefined) return `https://bedrock-runtime.${e.bedrock.region}.amazonaws.com`;
  if (e.vertex !== undefined) return e.vertex.region === 'global' ? 'https://aiplatform.googleapis.com' : `https://${e.vertex.region}-aiplatform.googleapis.com`;
  throw new Error(`endpoint ${e.id} has no base_url`); // the schema makes this unreachable
}

/** How a cloud endpoint without an API key authenticates, in words (it never passes the client's credential on). */
export function cloudCredentialSummary(e: EndpointConfig): string | undefined {
  if (e.bedrock) return e.bedrock.profiles ? `${e.bedrock.profiles.length} AWS profiles` : e.bedrock.profile ? `AWS profile ${e.bedrock.profile}` : 'AWS credential chain';
  if (e.vertex) return e.vertex.credentials_files ? `${e.vertex.credentials_files.length} service accounts` : e.vertex.credentials_file ? `service account ${e.vertex.credentials_file}` : 'Google ADC';
  return undefined;
}

/** How a pool of AWS profiles or service accounts is written as the credentials of a key pool. */
const AWS_PROFILE = 'aws-profile:';
const SERVICE_ACCOUNT = 'service-account:';

/**
 * Credentials an endpoint rotates as a key pool (endpoints/key-pool.ts): API keys, or a cloud endpoint's AWS
 * profiles or service-account files — its one profile or file (or the default chain, ADC) being a pool of one, so
 * that a throttled or refused cloud credential cools down like a key. Empty: the client's credentials pass through.
 */
export function endpointKeys(e: EndpointConfig): string[] {
  if (e.api_keys) return e.api_keys;
  if (e.api_key) return [e.api_key];
  if (e.bedrock) return (e.bedrock.profiles ?? [e.bedrock.profile ?? '']).map((p) => AWS_PROFILE + p);
  if (e.vertex) return (e.vertex.credentials_files ?? [e.vertex.credentials_file ?? '']).map((f) => SERVICE_ACCOUNT + f);
  return [];
}

/**
 * A credential picked from a pool: an API key, or the AWS profile or service-account file it stands for
 * (undefined: AWS_PROFILE or the default chain; Application Default Credentials).
 */
export type PoolCredential = { apiKey: string } | { awsProfile: string | undefined } | { serviceAccountFile: string | undefined };

export function poolCredential(key: string): PoolCredential {
  if (key.startsWith(AWS_PROFILE)) return { awsProfile: key.slice(AWS_PROFILE.length) || undefined };
  if (key.startsWith(SERVICE_ACCOUNT)) return { serviceAccountFile: key.slice(SERVICE_ACCOUNT.length) || undefined };
  return { apiKey: key };
}

/** The endpoint with one of its pool's credentials only (checking each key, profile or account on its own). */
export function withOneCredential(e: EndpointConfig, key: string): EndpointConfig {
  const c = poolCredential(key);
  if ('awsProfile' in c) return { ...e, bedrock: { ...e.bedrock!, profiles: undefined, profile: c.awsProfile } };
  if ('serviceAccountFile' in c) return { ...e, vertex: { ...e.vertex!, credentials_files: undefined, credentials_file: c.serviceAccountFile } };
  const { api_keys: _pool, ...rest } = e;
  return { ...rest, api_key: c.apiKey };
}

/** A pool credential as it may be shown: a key masked, a profile or file by name. */
export function shownCredential(key: string, mask: (secret: string) => string): string {
  const c = poolCredential(key);
  if ('awsProfile' in c) return c.awsProfile === undefined ? 'default AWS credentials' : `profile ${c.awsProfile}`;
  if ('serviceAccountFile' in c) return c.serviceAccountFile === undefined ? 'Application Default Credentials' : `account ${c.serviceAccountFile}`;
  return mask(c.apiKey);
}
