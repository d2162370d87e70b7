import { describe, expect, it } from 'vitest';
import { mappedModel, matchesModel } from '../../src/config/model-patterns.js';
import { PRESETS, presetFields } from '../../src/config/presets.js';
import { endpointSchema } from '../../src/config/schema.js';
import { EndpointRuntime } from '../../src/endpoints/endpoint.js';

describe('model name patterns', () => {
  it('an exact name, or a prefix ending in "*" (endpoints\' models and client keys\' allowlists alike)', () => {
    expect(matchesModel(['claude-haiku-*'], 'claude-haiku-4-5-20251001')).toBe(true);
    expect(matchesModel(['claude-haiku-*'], 'claude-sonnet-5')).toBe(false);
    expect(matchesModel(['claude-sonnet-4-5'], 'claude-sonnet-4-5-20250929')).toBe(false);
    expect(matchesModel(['*'], 'anything')).toBe(true);
    expect(matchesModel([], 'anything')).toBe(false);
  });

  it('a map: its exact entry first, else the longest prefix that matches', () => {
    const map = { 'claude-*': 'big', 'claude-haiku-*': 'small', 'claude-haiku-4-5-20251001': 'exact' };
    expect(mappedModel(map, 'claude-opus-4-8')).toBe('big');
    expect(mappedModel(map, 'claude-haiku-4-6')).toBe('small');
    expect(mappedModel(map, 'claude-haiku-4-5-20251001')).toBe('exact');
    expect(mappedModel(map, 'gpt-5')).toBeUndefined();
    expect(mappedModel({ 'claude-haiku-*': 'small', 'claude-*': 'big' }, 'claude-haiku-9')).toBe('small'); // order does not matter
  });
});

describe('vendor presets', () => {
  const CLAUDE_CODE_MODELS = ['claude-opus-4-8', 'claude-sonnet-5', 'claude-haiku-4-5-20251001'];

  it('every preset is a valid endpoint; every vendor serves Claude Code\'s models under its own names, and its own names only itself', () => {
    for (const preset of PRESETS) {
      const config = endpointSchema.parse({ id: preset.id, ...presetFields(preset), ...(preset.protocol === 'bedrock' && { bedrock: { region: 'us-east-1' } }), ...(preset.protocol === 'vertex' && { vertex: { project: 'my-project-1', region: 'global' } }) });
      if (preset.protocol !== undefined || preset.id === 'anthropic') continue;
      const e = new EndpointRuntime(config);
      for (const model of CLAUDE_CODE_MODELS) {
        expect(e.servesModel(model), `${preset.id} serves ${model}`).toBe(true);
        expect(e.upstreamModel(model), `${preset.id} maps ${model}`).not.toMatch(/^claude-/);
      }
      expect(e.servesModel('gpt-5'), `${preset.id} does not serve another vendor's model`).toBe(false);
    }
  });

  it('as the vendors\' Claude Code instructions set them', () => {
    const runtime = (id: string) => new EndpointRuntime(endpointSchema.parse({ id, ...presetFields(PRESETS.find((p) => p.id === id)!) }));
    expect(runtime('deepseek').upstreamModel('claude-opus-4-8')).toBe('deepseek-chat');
    expect(runtime('deepseek').upstreamModel('deepseek-reasoner')).toBe('deepseek-reasoner'); // its own names pass as they are
    expect(runtime('zhipu').upstreamModel('claude-sonnet-5')).toBe('glm-4.6');
    expect(runtime('zhipu').upstreamModel('claude-haiku-4-5-20251001')).toBe('glm-4.5-air');
    expect(runtime('moonshot').upstreamModel('claude-haiku-4-5-20251001')).toBe('kimi-k2-turbo-preview');
    expect(runtime('minimax').upstreamModel('claude-opus-4-8')).toBe('MiniMax-M2');
  });
});
