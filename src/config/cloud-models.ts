import type { EndpointConfig } from './schema.js';
import { mappedModel } from './model-patterns.js';

/**
 * Anthropic model ids → the ids Amazon Bedrock and Google Vertex AI give the same models. Claude Code sends
 * Anthropic's ids; a cloud endpoint maps them here, unless its `model_map` says otherwise (model_map wins). A model
 * with no mapping is not served by the endpoint: the planner passes it over, as for a `models` list that leaves it
 * out, rather than sending a name the cloud would refuse.
 *
 * Dated ids follow one rule on both clouds, for every Claude model to date:
 *   claude-sonnet-4-5-20250929 → Bedrock "anthropic.claude-sonnet-4-5-20250929-v1:0", Vertex "claude-sonnet-4-5@20250929".
 * Undated aliases ("claude-sonnet-4-5") are resolved to the dated model through ALIASES. Models newer than this
 * table without a date in their id are not guessed: map them in `model_map`.
 */

const ALIASES: Readonly<Record<string, string>> = {
  'claude-opus-4-5': 'claude-opus-4-5-20251101',
  'claude-haiku-4-5': 'claude-haiku-4-5-20251001',
  'claude-sonnet-4-5': 'claude-sonnet-4-5-20250929',
  'claude-opus-4-1': 'claude-opus-4-1-20250805',
  'claude-opus-4-0': 'claude-opus-4-20250514',
  'claude-sonnet-4-0': 'claude-sonnet-4-20250514',
  'claude-3-7-sonnet-latest': 'claude-3-7-sonnet-20250219',
  'claude-3-5-haiku-latest': 'claude-3-5-haiku-20241022',
};

const DATED = /^(claude-[a-z0-9-]+?)-(\d{8})$/;

/** Models that exist on Bedrock only through cross-region inference profiles (on-demand). */
const NEEDS_INFERENCE_PROFILE = /^claude-(3-7|sonnet-4|opus-4|haiku-4)/;

export type InferenceProfile = 'us' | 'us-gov' | 'eu' | 'apac' | 'global';

/** The inference-profile prefix a region's built-in ids use ("auto"), or the one configured. */
export function inferenceProfile(region: string, setting: string): InferenceProfile | undefined {
  if (setting === 'none') return undefined;
  if (setting !== 'auto') return setting as InferenceProfile;
  if (region.startsWith('us-gov-')) return 'us-gov';
  if (region.startsWith('us-') || region.startsWith('ca-')) return 'us';
  if (region.startsWith('eu-')) return 'eu';
  if (region.startsWith('ap-')) return 'apac';
  return 'global';
}

function dated(model: string): { name: string; date: string } | undefined {
  const m = DATED.exec(ALIASES[model] ?? model);
  return m ? { name: m[1]!, date: m[2]! } : undefined;
}

export function bedrockModelId(model: string, region: string, profileSetting: string): string | undefined {
  if (model.startsWith('anthropic.') || /^(us|us-gov|eu|apac|global)\.anthropic\./.test(model)) return model; // already Bedrock's
  const d = dated(model);
  if (d === undefined) return undefined;
  const id = `anthropic.${d.name}-${d.date}-v1:0`;
  const profile = NEEDS_INFERENCE_PROFILE.test(d.name) ? inferenceProfile(region, profileSetting) : undefined;
  return profile === undefined ? id : `${profile}.${id}`;
}

export function vertexModelId(model: string): string | undefined {
  if (model.includes('@')) return model; // already Vertex's
  const d = dated(model);
  return d === undefined ? undefined : `${d.name}@${d.date}`;
}

/** The name an endpoint is sent for `model`; undefined when it has none for it (the endpoint does not serve it). */
export function upstreamModelName(e: EndpointConfig, model: string): string | undefined {
  const mapped = mappedModel(e.model_map, model);
  if (mapped !== undefined) return mapped;
  if (e.protocol === 'bedrock' && e.bedrock !== undefined) return bedrockModelId(model, e.bedrock.region, e.bedrock.inference_profile);
  if (e.protocol === 'vertex') return vertexModelId(model);
  return model;
}
