/**
 * Endpoint presets for `qcc config browser` (and the dashboard): data only, so adding a vendor is one entry.
 * Every one speaks the Anthropic Messages API at its base URL.
 */
export interface EndpointPreset {
  id: string;
  name: string;
  base_url: string;
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
];
