import { confirm, input, password, select, Separator } from '@inquirer/prompts';
import { loadConfig, updateConfig } from '../config/load.js';
import type { QccPaths } from '../config/paths.js';
import { PRESETS, presetFields, type EndpointPreset } from '../config/presets.js';
import { bedrockSchema, endpointBaseUrl, endpointSchema, vertexSchema, type EndpointConfig } from '../config/schema.js';
import { resolve } from 'node:path';
import { maskSecret } from '../log.js';
import { checkBaseUrl } from './endpoint.js';
import { printReport, runChecks } from './health.js';
import { CliError } from './output.js';

/**
 * `qcc config browser`: an interactive terminal UI over the same config file the other commands use. Every
 * change is saved at once (atomically), so a running proxy picks it up through hot reload.
 */

type MainChoice = { kind: 'endpoint'; id: string } | { kind: 'preset' } | { kind: 'custom' } | { kind: 'quit' };
type EndpointAction = 'toggle' | 'key' | 'url' | 'weight' | 'priority' | 'test' | 'delete' | 'back';

function describe(e: EndpointConfig): string {
  const key = e.api_keys ? `${e.api_keys.length} keys` : e.api_key ? maskSecret(e.api_key) : "client's key";
  return `${e.enabled ? '●' : '○'} ${e.id.padEnd(16)} ${endpointBaseUrl(e).padEnd(44)} w=${e.weight} p=${e.priority} ${key}`;
}

const validId = (v: string) => endpointSchema.shape.id.safeParse(v).success || 'letters, digits, ".", "_" or "-", starting with a letter or digit';
const validUrl = (v: string) => {
  try {
    checkBaseUrl(v);
    return true;
  } catch (e: unknown) {
    return (e as Error).message;
  }
};
/**
 * A prompt's check is the config schema's own rule for that field, so the prompt accepts exactly what can be saved
 * and says why it cannot (never a raw error after the answer).
 */
function validField(field: 'weight' | 'priority'): (v: string) => true | string {
  const rule = endpointSchema.shape[field];
  return (v) => {
    if (v.trim() === '' || !Number.isFinite(Number(v))) return 'a number, please';
    const r = rule.safeParse(Number(v));
    return r.success || `${field} ${r.error.issues[0]?.message ?? 'is not valid'}`;
  };
}
const WEIGHT_PROMPT = 'Weight (share of traffic, greater than 0)';
const PRIORITY_PROMPT = 'Priority (a whole number, 0–1000; lower serves first)';

async function addEndpoint(paths: QccPaths, preset: EndpointPreset | undefined): Promise<void> {
  const existing = new Set(loadConfig(paths.config).config.endpoints.map((e) => e.id));
  const id = await input({
    message: 'Endpoint id',
    default: preset && !existing.has(preset.id) ? preset.id : undefined,
    validate: (v) => (existing.has(v) ? `"${v}" exists already` : validId(v)),
  });
  if (preset?.protocol !== undefined) return addCloudEndpoint(paths, preset, id);
  const baseUrl = preset ? preset.base_url : await input({ message: 'Base URL', validate: validUrl });
  if (preset) process.stdout.write(`  key: ${preset.key_hint}\n`);
  if (preset?.model_map) process.stdout.write(`  models: ${Object.entries(preset.model_map).map(([from, to]) => `${from} → ${to}`).join(', ')} (change later: qcc endpoint set ${id} --model-map …)\n`);
  const key = await password({ message: 'API key (empty: pass the client\'s own key through)', mask: '*' });
  const weight = Number(await input({ message: WEIGHT_PROMPT, default: '1', validate: validField('weight') }));
  const candidate = endpointSchema.parse({
    id,
    ...(preset && presetFields(preset)),
    base_url: baseUrl,
    auth_mode: preset?.auth_mode ?? 'auto',
    weight,
    ...(key.trim() && { api_key: key.trim() }),
  });
  if (!(await confirm({ message: `Add ${describe(candidate)}?`, default: true }))) return;
  updateConfig(paths.config, (c) => {
    c.endpoints.push(candidate);
  });
  process.stdout.write(`added ${id}\n`);
}

/** A Bedrock or Vertex endpoint: its region and credentials instead of a base URL and key. */
async function addCloudEndpoint(paths: QccPaths, preset: EndpointPreset, id: string): Promise<void> {
  process.stdout.write(`  credentials: ${preset.key_hint}\n`);
  const checked = (schema: typeof bedrockSchema | typeof vertexSchema, field: string) => (v: string) => {
    const r = schema.shape[field as keyof typeof schema.shape].safeParse(v);
    return r.success || r.error.issues[0]?.message || 'not valid';
  };
  let fields: Record<string, unknown>;
  if (preset.protocol === 'bedrock') {
    const region = await input({ message: 'AWS region', default: 'us-east-1', validate: checked(bedrockSchema, 'region') });
    const profile = (await input({ message: 'AWS profile (empty: AWS_PROFILE, else the default credential chain)' })).trim();
    const key = (await password({ message: 'Bedrock API key (empty: sign with the AWS credentials)', mask: '*' })).trim();
    fields = { bedrock: { region, ...(profile && { profile }) }, ...(key && { api_key: key }) };
  } else {
    const project = await input({ message: 'Google Cloud project id', validate: checked(vertexSchema, 'project') });
    const region = await input({ message: 'Region (us-east5, europe-west1, … or global)', default: 'global', validate: checked(vertexSchema, 'region') });
    const file = (await input({ message: 'Service account key file (empty: Application Default Credentials)' })).trim();
    fields = { vertex: { project, region, ...(file && { credentials_file: resolve(file) }) } };
  }
  const weight = Number(await input({ message: WEIGHT_PROMPT, default: '1', validate: validField('weight') }));
  const candidate = endpointSchema.parse({ id, protocol: preset.protocol, weight, ...fields });
  if (!(await confirm({ message: `Add ${describe(candidate)}?`, default: true }))) return;
  updateConfig(paths.config, (c) => {
    c.endpoints.push(candidate);
  });
  process.stdout.write(`added ${id}\n`);
}

async function editEndpoint(paths: QccPaths, id: string): Promise<void> {
  for (;;) {
    const e = loadConfig(paths.config).config.endpoints.find((x) => x.id === id);
    if (!e) return;
    const action = await select<EndpointAction>({
      message: describe(e),
      choices: [
        { name: e.enabled ? 'Disable' : 'Enable', value: 'toggle' },
        { name: 'Test now (health check)', value: 'test' },
        { name: 'Change key', value: 'key' },
        { name: 'Change base URL', value: 'url' },
        { name: 'Change weight', value: 'weight' },
        { name: 'Change priority', value: 'priority' },
        { name: 'Delete', value: 'delete' },
        { name: '← Back', value: 'back' },
      ],
    });
    // Checked by the schema before anything is written; a change it refuses is said in words and nothing changes.
    const change = (fn: (x: EndpointConfig) => EndpointConfig) => {
      const next = endpointSchema.safeParse(fn(e));
      if (!next.success) {
        process.stdout.write(`not changed: ${next.error.issues.map((i) => `${i.path.join('.') || 'endpoint'}: ${i.message}`).join('; ')}\n`);
        return;
      }
      updateConfig(paths.config, (c) => {
        c.endpoints = c.endpoints.map((x) => (x.id === id ? next.data : x));
      });
    };
    switch (action) {
      case 'back':
        return;
      case 'toggle':
        change((x) => ({ ...x, enabled: !x.enabled }));
        break;
      case 'test': {
        const report = await runChecks(loadConfig(paths.config).config, { endpoint: id });
        printReport(report);
        break;
      }
      case 'key': {
        const key = (await password({ message: 'New API key (empty: pass the client\'s key through)', mask: '*' })).trim();
        change(({ api_key: _k, api_keys: _ks, ...rest }) => ({ ...rest, ...(key && { api_key: key }) }));
        break;
      }
      case 'url': {
        const url = await input({ message: 'Base URL', default: e.base_url, validate: validUrl });
        change((x) => ({ ...x, base_url: url }));
        break;
      }
      case 'weight':
      case 'priority': {
        const v = Number(await input({ message: action === 'weight' ? WEIGHT_PROMPT : PRIORITY_PROMPT, default: String(e[action]), validate: validField(action) }));
        change((x) => ({ ...x, [action]: v }));
        break;
      }
      case 'delete':
        if (await confirm({ message: `Delete ${id}?`, default: false })) {
          updateConfig(paths.config, (c) => {
            c.endpoints = c.endpoints.filter((x) => x.id !== id);
          });
          return;
        }
        break;
    }
  }
}

export async function runBrowser(paths: QccPaths): Promise<void> {
  if (!process.stdin.isTTY) throw new CliError('config browser needs a terminal; use `qcc endpoint …` commands in scripts');
  for (;;) {
    const { config } = loadConfig(paths.config);
    const choice = await select<MainChoice>({
      message: `qcc endpoints (${paths.config})`,
      pageSize: 15,
      choices: [
        ...config.endpoints.map((e) => ({ name: describe(e), value: { kind: 'endpoint', id: e.id } as MainChoice })),
        new Separator(),
        { name: 'Add from a preset…', value: { kind: 'preset' } },
        { name: 'Add a custom endpoint…', value: { kind: 'custom' } },
        { name: 'Quit', value: { kind: 'quit' } },
      ],
    });
    if (choice.kind === 'quit') return;
    if (choice.kind === 'endpoint') await editEndpoint(paths, choice.id);
    else if (choice.kind === 'custom') await addEndpoint(paths, undefined);
    else {
      const preset = await select<EndpointPreset>({ message: 'Preset', choices: PRESETS.map((p) => ({ name: `${p.name.padEnd(18)} ${p.base_url}`, value: p })) });
      await addEndpoint(paths, preset);
    }
  }
}
