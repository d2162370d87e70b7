import type { PresetView } from '../shared/api-types.js';

/**
 * Endpoint presets for `qcc config browser` (and the dashboard): data only, so adding a vendor is one entry.
 * Every one speaks the Anthropic Messages API at its base URL, except the two clouds, which have a protocol of their
 * own and are reached at their regional host (the browser asks for the region and the credentials instead of a key).
 */
export interface EndpointPreset extends PresetView {
  id: string;
  name: string;
  /** The address, or for a cloud what it is derived from (shown, not stored). */
  base_url: string;
  protocol?: 'bedrock' | 'vertex';
  auth_mode: 'auto' | 'x-api-key' | 'bearer';
  /** Where to get a key, shown to the user. */
  key_hint: string;
  /**
   * What a vendor serves Claude Code, from its own Claude Code setup instructions: the Claude names it takes (as
   * patterns, so next month's model names still match) and its own model names, with the map from one to the
   * other. In a pool with the API, the endpoint then serves Claude's requests under its vendor's names, and
   * requests for the vendor's own names go only to it. Vendors rename models: `qcc endpoint set ID --model-map`.
   */
  models?: string[];
  model_map?: Record<string, string>;
}

/** The endpoint fields a preset gives (base URL or protocol, auth mode, models and their map). */
export function presetFields(preset: EndpointPreset): Record<string, unknown> {
  return {
    ...(preset.protocol === undefined ? { base_url: preset.base_url, auth_mode: preset.auth_mode } : { protocol: preset.protocol }),
    ...(preset.models !== undefined && { models: preset.models }),
    ...(preset.model_map !== undefined && { model_map: preset.model_map }),
  };
}

export function presetNamed(id: string): EndpointPreset | undefined {
  return PRESETS.find((p) => p.id === id);
}

export const PRESETS: readonly EndpointPreset[] = [
  { id: 'anthropic', name: 'Anthropic', base_url: 'https://api.anthropic.com', auth_mode: 'x-api-key', key_hint: 'console.anthropic.com → API keys' },
  {
    id: 'deepseek',
    name: 'DeepSeek',
    base_url: 'https://api.deepseek.com/anthropic',
    auth_mode: 'auto',
    key_hint: 'platform.deepseek.com → API keys',
    // DeepSeek's Claude Code guide sets ANTHROPIC_MODEL and ANTHROPIC_SMALL_FAST_MODEL both to deepseek-chat.
    models: ['claude-*', 'deepseek-*'],
    model_map: { 'claude-*': 'deepseek-chat' },
  },
  {
    id: 'moonshot',
    name: 'Moonshot (Kimi)',
    base_url: 'https://api.moonshot.ai/anthropic',
    auth_mode: 'auto',
    key_hint: 'platform.moonshot.ai → API keys',
    // Moonshot's guide: kimi-k2-turbo-preview for ANTHROPIC_MODEL and ANTHROPIC_SMALL_FAST_MODEL.
    models: ['claude-*', 'kimi-*'],
    model_map: { 'claude-*': 'kimi-k2-turbo-preview' },
  },
  {
    id: 'zhipu',
    name: 'Zhipu (GLM)',
    base_url: 'https://open.bigmodel.cn/api/anthropic',
    auth_mode: 'auto',
    key_hint: 'open.bigmodel.cn → API keys',
    // Zhipu's guide: ANTHROPIC_DEFAULT_OPUS_MODEL and _SONNET_MODEL glm-4.6, _HAIKU_MODEL glm-4.5-air.
    models: ['claude-*', 'glm-*'],
    model_map: { 'claude-*': 'glm-4.6', 'claude-haiku-*': 'glm-4.5-air', 'claude-3-5-haiku-*': 'glm-4.5-air' },
  },
  {
    id: 'minimax',
    name: 'MiniMax',
    base_url: 'https://api.minimax.io/anthropic',
    auth_mode: 'auto',
    key_hint: 'platform.minimax.io → API keys',
    // MiniMax's guide: MiniMax-M2 for every model variable.
    models: ['claude-*', 'MiniMax-*'],
    model_map: { 'claude-*': 'MiniMax-M2' },
  },
  {
    id: 'bedrock',
    name: 'Amazon Bedrock',
    base_url: 'https://bedrock-runtime.REGION.amazonaws.com',
    protocol: 'bedrock',
    auth_mode: 'auto',
    key_hint: 'an AWS profile (aws configure / aws sso login) or a Bedrock API key; enable the Claude models in the Bedrock console',
  },
  {
    id: 'vertex',
    name: 'Google Vertex AI',
    base_url: 'https://REGION-aiplatform.googleapis.com',
    protocol: 'vertex',
    auth_mode: 'auto',
    key_hint: 'a service account key file (IAM → Service accounts → Keys), or gcloud auth application-default login; enable Claude in Model Garden',
  },
];
