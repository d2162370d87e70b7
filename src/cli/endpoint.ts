import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig, updateConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import { AUTH_MODES, cloudCredentialSummary, endpointBaseUrl, endpointSchema, type Config, type EndpointConfig } from '../config/schema.js';
import { endpointRoute, routeInfo, type EndpointRoute } from '../endpoints/route.js';
import { formatPath } from '../config/load.js';
import { baseUrlProblem } from '../config/url-rule.js';
import { maskSecret } from '../log.js';
import { shownProxy } from '../config/proxy-secrets.js';
import { CliError, info, printJson, table } from './output.js';
import { inspectRecord } from './runtime-record.js';
import { PRESETS, presetFields, presetNamed } from '../config/presets.js';

interface KeyOptions {
  apiKey?: string;
  apiKeys?: string;
  apiKeyEnv?: string;
  apiKeyStdin?: boolean;
}

/** The endpoint fields `add` and `set` both take beyond the basics (see fieldOptions). */
interface FieldOptions {
  modelMap?: string;
  protocol?: string;
  openaiReasoning?: string;
  openaiMapEffort?: string;
  healthModels?: string;
  oauthPassthrough?: string;
  region?: string;
  awsProfile?: string;
  inferenceProfile?: string;
  project?: string;
  credentialsFile?: string;
  priceFactor?: string;
}

/** Every field a config file can hold for an endpoint can be given on the command line too (issue #20 item 8). */
function fieldOptions(cmd: Command, clearable: boolean): Command {
  const clear = (what: string) => (clearable ? ` ("" ${what})` : '');
  return cmd
    .option('--model-map <from=to,...>', `rewrite model names for this endpoint${clear('to clear')}`)
    .option('--protocol <anthropic|openai|bedrock|vertex>', 'its wire protocol: the Messages API, OpenAI Chat Completions (translated both ways), Amazon Bedrock or Google Vertex AI')
    .option('--openai-reasoning <thinking|drop>', 'OpenAI endpoints: their reasoning text as a thinking block, or dropped')
    .option('--openai-map-effort <true|false>', 'OpenAI endpoints: map output_config.effort to reasoning_effort')
    .option('--health-models <a,b>', `models the health check uses for it${clear('for the default')}`)
    .option('--oauth-passthrough <true|false>', 'send clients\' claude.ai subscription tokens to it although it is not api.anthropic.com')
    .option('--region <name>', 'Bedrock: the AWS region (us-east-1, …); Vertex: the region (us-east5, europe-west1, global)')
    .option('--aws-profile <name[,name]>', `Bedrock: the AWS profile to sign with (several: rotated as a pool)${clear('for the default chain')}; default: AWS_PROFILE, else the default credential chain`)
    .option('--inference-profile <auto|us|eu|apac|global|none>', 'Bedrock: the cross-region inference profile of the built-in model ids')
    .option('--project <id>', 'Vertex: the Google Cloud project')
    .option('--credentials-file <path[,path]>', `Vertex: a service account key file (several: rotated as a pool)${clear('for Application Default Credentials')}; default: Application Default Credentials`)
    .option('--price-factor <n>', 'its prices relative to the list prices (1.1 for a regional cloud endpoint billed 10 % over global)');
}

function booleanOption(name: string, value: string): boolean {
  if (value === 'true' || value === 'false') return value === 'true';
  throw new CliError(`--${name} is true or false, not "${value}"`);
}

/** The FieldOptions given, as endpoint fields over `current` (set) or a new endpoint (add); schema-checked later. */
function fieldsFrom(opts: FieldOptions, current?: EndpointConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (opts.modelMap !== undefined) out.model_map = parseModelMap(opts.modelMap);
  if (opts.protocol !== undefined) out.protocol = opts.protocol;
  if (opts.openaiReasoning !== undefined || opts.openaiMapEffort !== undefined) {
    out.openai = {
      ...(current?.openai ?? {}),
      ...(opts.openaiReasoning !== undefined && { reasoning: opts.openaiReasoning }),
      ...(opts.openaiMapEffort !== undefined && { map_effort: booleanOption('openai-map-effort', opts.openaiMapEffort) }),
    };
  }
  if (opts.healthModels !== undefined) {
    const models = opts.healthModels.split(',').map((m) => m.trim()).filter(Boolean);
    out.health_models = models.length > 0 ? models : undefined;
  }
  if (opts.oauthPassthrough !== undefined) out.oauth_passthrough = booleanOption('oauth-passthrough', opts.oauthPassthrough);
  if (opts.priceFactor !== undefined) out.price_factor = opts.priceFactor === '' ? undefined : numberOption('price-factor', opts.priceFactor);
  Object.assign(out, cloudFields(opts, current));
  return out;
}

/** The `bedrock` or `vertex` block from the cloud flags, over the endpoint's current one. */
function cloudFields(opts: FieldOptions, current?: EndpointConfig): Record<string, unknown> {
  const protocol = opts.protocol ?? current?.protocol ?? 'anthropic';
  const given = (names: (keyof FieldOptions)[]) => names.filter((n) => opts[n] !== undefined);
  const bedrockFlags = given(['awsProfile', 'inferenceProfile']);
  const vertexFlags = given(['project', 'credentialsFile']);
  const flag = (n: string) => `--${n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (protocol === 'bedrock') {
    if (vertexFlags.length > 0) throw new CliError(`${vertexFlags.map(flag).join(', ')} ${vertexFlags.length > 1 ? 'are' : 'is'} for Vertex endpoints (--protocol vertex)`);
    if (opts.region === undefined && bedrockFlags.length === 0 && current?.bedrock !== undefined) return {};
    if (opts.region === undefined && current?.bedrock === undefined) throw new CliError('a Bedrock endpoint needs --region (the AWS region, e.g. --region us-east-1)');
    const bedrock: Record<string, unknown> = { ...(current?.bedrock ?? {}) };
    if (opts.region !== undefined) bedrock.region = opts.region;
    if (opts.awsProfile !== undefined) {
      // One profile, or several rotated as a pool.
      const names = opts.awsProfile.split(',').map((p) => p.trim()).filter(Boolean);
      bedrock.profile = names.length === 1 ? names[0] : undefined;
      bedrock.profiles = names.length > 1 ? names : undefined;
    }
    if (opts.inferenceProfile !== undefined) bedrock.inference_profile = opts.inferenceProfile;
    return { bedrock, vertex: undefined };
  }
  if (protocol === 'vertex') {
    if (bedrockFlags.length > 0) throw new CliError(`${bedrockFlags.map(flag).join(', ')} ${bedrockFlags.length > 1 ? 'are' : 'is'} for Bedrock endpoints (--protocol bedrock)`);
    if (opts.region === undefined && vertexFlags.length === 0 && current?.vertex !== undefined) return {};
    const missing = [current?.vertex?.project ?? opts.project ? undefined : '--project (the Google Cloud project id)', current?.vertex?.region ?? opts.region ? undefined : '--region (e.g. us-east5, or global)'].filter(Boolean);
    if (missing.length > 0) throw new CliError(`a Vertex endpoint needs ${missing.join(' and ')}`);
    const vertex: Record<string, unknown> = { ...(current?.vertex ?? {}) };
    if (opts.region !== undefined) vertex.region = opts.region;
    if (opts.project !== undefined) vertex.project = opts.project;
    if (opts.credentialsFile !== undefined) {
      const files = opts.credentialsFile.split(',').map((f) => f.trim()).filter(Boolean).map((f) => resolve(f));
      vertex.credentials_file = files.length === 1 ? files[0] : undefined;
      vertex.credentials_files = files.length > 1 ? files : undefined;
    }
    return { vertex, bedrock: undefined };
  }
  const cloudOnly = given(['region', 'awsProfile', 'inferenceProfile', 'project', 'credentialsFile']);
  if (cloudOnly.length > 0) throw new CliError(`${cloudOnly.map(flag).join(', ')} ${cloudOnly.length > 1 ? 'are' : 'is'} for cloud endpoints: add --protocol bedrock or --protocol vertex`);
  return current?.protocol === 'bedrock' || current?.protocol === 'vertex' ? { bedrock: undefined, vertex: undefined } : {};
}

interface SetOptions extends Omit<KeyOptions, 'apiKey'>, FieldOptions {
  apiKey?: string | false;
  baseUrl?: string;
  weight?: string;
  priority?: string;
  models?: string;
  authMode?: string;
  maxConcurrency?: string;
  proxy?: string;
  allowInsecureHttp?: boolean;
}

function parseModelMap(value: string): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw new CliError(`--model-map takes from=to pairs separated by commas, not "${pair}"`);
    map[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return map;
}

interface AddOptions extends KeyOptions, FieldOptions {
  baseUrl?: string;
  preset?: string;
  weight?: string;
  priority?: string;
  models?: string;
  authMode?: string;
  disabled?: boolean;
  maxConcurrency?: string;
  proxy?: string;
  allowInsecureHttp?: boolean;
}

/** Keys may come from a flag, an environment variable or stdin, so they need not sit in shell history. */
function keysFrom(opts: KeyOptions): string[] | undefined {
  const sources = [opts.apiKey, opts.apiKeys, opts.apiKeyEnv, opts.apiKeyStdin].filter((s) => s !== undefined);
  if (sources.length > 1) throw new CliError('give the key one way: --api-key, --api-keys, --api-key-env or --api-key-stdin');
  if (opts.apiKey !== undefined) return [opts.apiKey];
  if (opts.apiKeys !== undefined) return opts.apiKeys.split(',').map((k) => k.trim()).filter(Boolean);
  if (opts.apiKeyEnv !== undefined) {
    const v = process.env[opts.apiKeyEnv];
    if (!v) throw new CliError(`environment variable ${opts.apiKeyEnv} is not set or empty`);
    return [v.trim()];
  }
  if (opts.apiKeyStdin) {
    const v = readFileSync(0, 'utf8').trim();
    if (!v) throw new CliError('no key on standard input');
    return v.split(/[\n,]/).map((k) => k.trim()).filter(Boolean);
  }
  return undefined;
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new CliError(`--${name} must be a number, not "${value}"`);
  return n;
}

/** `https` is required for anything that leaves the machine: keys must not cross a network in clear text. */
export function checkBaseUrl(url: string): void {
  const problem = baseUrlProblem(url);
  if (problem) throw new CliError(`--base-url: ${problem}`);
}

function validated(candidate: unknown): EndpointConfig {
  const parsed = endpointSchema.safeParse(candidate);
  if (parsed.success) return parsed.data;
  throw new CliError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('\n'));
}

export function maskedEndpoint(e: EndpointConfig): Record<string, unknown> {
  const { api_key, api_keys, ...rest } = e;
  return {
    ...rest,
    ...(api_key !== undefined && { api_key: maskSecret(api_key) }),
    ...(api_keys !== undefined && { api_keys: api_keys.map(maskSecret) }),
    ...(rest.proxy !== undefined && { proxy: shownProxy(rest.proxy) }),
  };
}

/**
 * The route the proxy would take for `e`, judged with this shell's environment: a proxy started from it
 * (`qcc proxy start`) inherits the same proxy variables.
 */
function routeOf(e: EndpointConfig, config: Config): EndpointRoute {
  return endpointRoute(endpointBaseUrl(e), e.proxy, config.proxy.upstream_proxy, process.env);
}

function keySummary(e: EndpointConfig): string {
  if (e.api_keys) return `${e.api_keys.length} keys`;
  if (e.api_key) return maskSecret(e.api_key);
  // A cloud endpoint signs or authenticates itself; the client's credential is never passed on to it.
  return cloudCredentialSummary(e) ?? '(client\'s)';
}

export function registerEndpointCommands(program: Command, paths: () => QccPaths): Command {
  const endpoint = program
    .command('endpoint')
    .description('manage the endpoints qcc spreads traffic over')
    .addHelpText(
      'after',
      '\nExamples:\n  qcc endpoint add main --base-url https://api.anthropic.com --api-key-env ANTHROPIC_API_KEY\n' +
        '  qcc endpoint list\n  qcc endpoint set main --weight 3\n  qcc endpoint disable main\n  qcc endpoint test main',
    );

  const add = endpoint
    .command('add <id>')
    .description('add an endpoint')
    .option('--base-url <url>', 'the endpoint\'s base URL, e.g. https://api.anthropic.com (Bedrock and Vertex: optional, their regional host by default)')
    .option('--api-key <key>', 'its API key (prefer --api-key-env or --api-key-stdin to keep it out of shell history)')
    .option('--api-keys <k1,k2>', 'a pool of keys, rotated')
    .option('--api-key-env <VAR>', 'read the key from this environment variable')
    .option('--api-key-stdin', 'read the key (or keys, one per line) from standard input')
    .option('--weight <n>', 'share of traffic relative to the others', '1')
    .option('--priority <n>', 'tier for the priority strategy: lower serves first', '0')
    .option('--models <a,b>', 'only serve these models')
    .option('--auth-mode <mode>', `${AUTH_MODES.join('|')} (default: auto, or the preset's)`)
    .option('--preset <id>', `start from a vendor's settings (its address, auth, models and model map): ${PRESETS.map((p) => p.id).join(', ')}`)
    .option('--max-concurrency <n>', 'at most this many requests at once')
    .option('--proxy <url|direct>', 'reach it through this proxy (http://, https://, socks5://, socks5h://; user:pass@ allowed) or "direct"; default: proxy.upstream_proxy, else HTTPS_PROXY/HTTP_PROXY/ALL_PROXY minus NO_PROXY')
    .option('--allow-insecure-http', 'allow a plain http:// base URL to another machine (a LAN relay): keys go in clear text')
    .option('--disabled', 'add it switched off');
  fieldOptions(add, false)
    .addHelpText(
      'after',
      '\nExamples:\n  qcc endpoint add main --base-url https://api.anthropic.com --api-key-env ANTHROPIC_API_KEY\n' +
        '  qcc endpoint add abroad --base-url https://api.anthropic.com --api-key-env KEY --proxy socks5h://127.0.0.1:1080\n' +
        '  qcc endpoint add ds --preset deepseek --api-key-env DS_KEY     # its address, models and model map\n' +
        '  qcc endpoint add ds --base-url https://api.deepseek.com/anthropic --api-key-env DS_KEY \\\n' +
        '      --models \'claude-sonnet-*\' --model-map \'claude-sonnet-*=deepseek-chat\'\n' +
        '  qcc endpoint add chat --base-url https://llm.example/v1 --api-key-env KEY --protocol openai --openai-reasoning drop\n' +
        '  qcc endpoint add aws --protocol bedrock --region us-east-1 --aws-profile team\n' +
        '  qcc endpoint add gcp --protocol vertex --project my-project --region us-east5 --credentials-file ~/sa.json',
    )
    .action((id: string, opts: AddOptions) => {
      const keys = keysFrom(opts);
      const preset = opts.preset === undefined ? undefined : presetNamed(opts.preset);
      if (opts.preset !== undefined && preset === undefined) throw new CliError(`no preset "${opts.preset}"; there are: ${PRESETS.map((p) => p.id).join(', ')}`);
      const e = validated({
        id,
        ...(preset && presetFields(preset)),
        ...(opts.baseUrl !== undefined && { base_url: opts.baseUrl }),
        ...(keys && keys.length === 1 && opts.apiKeys === undefined ? { api_key: keys[0] } : {}),
        ...(keys && (keys.length > 1 || opts.apiKeys !== undefined) ? { api_keys: keys } : {}),
        weight: numberOption('weight', opts.weight),
        priority: numberOption('priority', opts.priority),
        ...(opts.models !== undefined && { models: opts.models.split(',').map((m) => m.trim()).filter(Boolean) }),
        ...(opts.authMode !== undefined && { auth_mode: opts.authMode }),
        enabled: !opts.disabled,
        ...(opts.maxConcurrency !== undefined && { max_concurrency: numberOption('max-concurrency', opts.maxConcurrency) }),
        ...(opts.proxy !== undefined && { proxy: opts.proxy }),
        ...(opts.allowInsecureHttp && { allow_insecure_http: true }),
        ...fieldsFrom(opts),
      });
      updateConfig(paths().config, (c) => {
        if (c.endpoints.some((x) => x.id === id)) throw new CliError(`an endpoint "${id}" exists already; pick another id or \`qcc endpoint remove ${id}\``);
        c.endpoints.push(e);
      });
      const config = loadConfig(paths().config).config;
      info(`added endpoint ${id} (${endpointBaseUrl(e)}, key ${keySummary(e)}, ${routeOf(e, config).label})\n`);
      const running = inspectRecord(paths().runtime);
      // The demo's simulated endpoints give way to the first real one: say so, where it happens.
      if (running.kind === 'running' && running.record.demo === true && config.endpoints.length === 1) {
        info(`the running proxy (${running.record.url}) now serves through ${id} instead of its simulated endpoints\n`);
      }
    });

  const set = endpoint
    .command('set <id>')
    .description('change fields of an endpoint (a running proxy applies it at once)')
    .option('--base-url <url>', 'new base URL')
    .option('--api-key <key>', 'replace the key(s) with this one')
    .option('--api-keys <k1,k2>', 'replace the key(s) with this pool')
    .option('--api-key-env <VAR>', 'replace the key with the value of this environment variable')
    .option('--api-key-stdin', 'replace the key(s) with what standard input holds')
    .option('--no-api-key', 'remove the key(s): pass the client\'s credentials through')
    .option('--weight <n>', 'share of traffic')
    .option('--priority <n>', 'tier for the priority strategy')
    .option('--models <a,b>', 'only serve these models ("" for all)')
    .option('--auth-mode <mode>', `${AUTH_MODES.join('|')}`)
    .option('--max-concurrency <n>', 'at most this many requests at once (0 for no limit)')
    .option('--proxy <url|direct|default>', 'reach it through this proxy, or "direct", or "default" (proxy.upstream_proxy, else the environment)')
    .option('--allow-insecure-http', 'allow a plain http:// base URL to another machine (a LAN relay)');
  fieldOptions(set, true)
    .addHelpText(
      'after',
      '\nExamples:\n  qcc endpoint set main --weight 3\n  qcc endpoint set relay --models claude-sonnet-5 --model-map claude-sonnet-5=vendor-sonnet\n' +
        '  qcc endpoint set main --proxy http://user:pass@proxy.corp:3128\n  qcc endpoint set lan --proxy direct',
    )
    .action((id: string, opts: SetOptions) => {
      if (Object.values(opts).every((v) => v === undefined)) {
        throw new CliError(`nothing to change: give ${id} at least one option, e.g. \`qcc endpoint set ${id} --weight 2\` (see --help)`);
      }
      const keys = opts.apiKey === false ? null : keysFrom({ ...opts, apiKey: typeof opts.apiKey === 'string' ? opts.apiKey : undefined });
      let changed: EndpointConfig | undefined;
      updateConfig(paths().config, (c) => {
        const i = c.endpoints.findIndex((x) => x.id === id);
        if (i < 0) throw new CliError(`no endpoint "${id}"; see \`qcc endpoint list\``);
        const { api_key: _k, api_keys: _ks, max_concurrency: _m, proxy: _p, ...rest } = c.endpoints[i]!;
        const current = c.endpoints[i]!;
        const next: Record<string, unknown> = {
          ...rest,
          ...(keys === undefined && current.api_key !== undefined && { api_key: current.api_key }),
          ...(keys === undefined && current.api_keys !== undefined && { api_keys: current.api_keys }),
          ...(keys && keys.length === 1 && opts.apiKeys === undefined && { api_key: keys[0] }),
          ...(keys && (keys.length > 1 || opts.apiKeys !== undefined) && { api_keys: keys }),
          ...(opts.baseUrl !== undefined && { base_url: opts.baseUrl }),
          ...(opts.weight !== undefined && { weight: numberOption('weight', opts.weight) }),
          ...(opts.priority !== undefined && { priority: numberOption('priority', opts.priority) }),
          ...(opts.models !== undefined && { models: opts.models.split(',').map((m) => m.trim()).filter(Boolean) }),
          ...fieldsFrom(opts, current),
          ...(opts.authMode !== undefined && { auth_mode: opts.authMode }),
          ...(opts.allowInsecureHttp && { allow_insecure_http: true }),
        };
        const max = opts.maxConcurrency === undefined ? current.max_concurrency : numberOption('max-concurrency', opts.maxConcurrency) || undefined;
        if (max !== undefined) next.max_concurrency = max;
        const proxy = opts.proxy === undefined ? current.proxy : opts.proxy === 'default' ? undefined : opts.proxy;
        if (proxy !== undefined) next.proxy = proxy;
        changed = validated(next);
        c.endpoints[i] = changed;
      });
      info(`updated endpoint ${id} (${endpointBaseUrl(changed!)}, key ${keySummary(changed!)}, weight ${changed!.weight}, ${routeOf(changed!, loadConfig(paths().config).config).label})\n`);
    });

  endpoint
    .command('list')
    .description('list endpoints (keys masked)')
    .option('--json', 'machine-readable output')
    .action((opts: { json?: boolean }) => {
      const { config } = loadConfig(paths().config);
      if (opts.json) return printJson(config.endpoints.map((e) => ({ ...maskedEndpoint(e), route: routeInfo(routeOf(e, config)) })));
      if (config.endpoints.length === 0) return void process.stdout.write('no endpoints; add one with `qcc endpoint add`\n');
      const rows = config.endpoints.map((e) => [e.id, e.enabled ? 'yes' : 'no', endpointBaseUrl(e), keySummary(e), e.auth_mode, e.weight, e.priority, e.models.join(',') || '*', routeOf(e, config).label]);
      process.stdout.write(`${table(['ID', 'ENABLED', 'BASE URL', 'KEY', 'AUTH', 'WEIGHT', 'PRIORITY', 'MODELS', 'ROUTE'], rows)}\n`);
    });

  endpoint
    .command('remove <id>')
    .description('remove an endpoint')
    .action((id: string) => {
      updateConfig(paths().config, (c) => {
        const before = c.endpoints.length;
        c.endpoints = c.endpoints.filter((e) => e.id !== id);
        if (c.endpoints.length === before) throw new CliError(`no endpoint "${id}"; see \`qcc endpoint list\``);
      });
      info(`removed endpoint ${id}\n`);
    });

  for (const [name, enabled] of [['enable', true], ['disable', false]] as const) {
    endpoint
      .command(`${name} <id>`)
      .description(`${name} an endpoint (a running proxy applies it at once)`)
      .action((id: string) => {
        updateConfig(paths().config, (c) => {
          const e = c.endpoints.find((x) => x.id === id);
          if (!e) throw new CliError(`no endpoint "${id}"; see \`qcc endpoint list\``);
          e.enabled = enabled;
        });
        info(`${name}d endpoint ${id}\n`);
      });
  }
  return endpoint;
}
