/**
 * Endpoint presets for `qcc config browser` (and the dashboard): data only, so adding a vendor is one entry.
 * Every one speaks the Anthropic Messages API at its base URL, except the two clouds, which have a protocol of their
 * own and are reached at their regional host (the browser asks for the region and the credentials instead of a key).
 */
export interface EndpointPreset {
  id: string;
  name: string;
  /** The address, or for a cloud what it is derived from (shown, not stored). */
  base_url: string;
  protocol?: 'bedrock' | 'vertex';
  auth_mode: 'auto' | 'x-api-key' | 'bearer';
  /** Where to get a key, shown to the user. */
  key_hint: string;
}

export const PRESETS: readonly EndpointPreset[] = [
  { id: 'anthropic', name: 'Anthropic', base_url: 'https://api.anthropic.com', auth_mode: 'x-api-key', key_hint: 'console.anthropic.com → API keys' },
  { id: 'deepseek', name: 'DeepSeek', base_url: 'https://api.deepseek.com/anthropic', auth_mode: 'auto', key_hint: 'platform.deepseek.com → API keys' },
  { id: 'moonshot', name: 'Moonshot (Kimi)', base_url: 'https://api.moonshot.ai/anthropic', auth_mode: 'auto', key_hint: 'platform.moonshot.ai → API keys' },
  { id: 'zhipu', name: 'Zhipu (GLM)', base_url: 'https://open.bigmodel.cn/api/anthropic', auth_mode: 'auto', key_hint: 'open.bigmodel.cn → API keys' },
  { id: 'minimax', name: 'MiniMax', base_url: 'https://api.minimax.io/anthropic', auth_mode: 'auto', key_hint: 'platform.minimax.io → API keys' },
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
