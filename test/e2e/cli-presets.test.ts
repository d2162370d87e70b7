import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';

/** `qcc endpoint add --preset`: a vendor's address, auth, models and model map in one flag (issue #20, item 9). */

const saved = (home: string) => (JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: Record<string, unknown>[] }).endpoints;

describe('qcc endpoint add --preset', () => {
  it('writes the vendor\'s settings; a flag given wins over the preset; an unknown preset is named with the list', async () => {
    const home = tempHome();
    writeConfig(home, { version: 1, endpoints: [] });
    const ds = await runCli(home, ['endpoint', 'add', 'ds', '--preset', 'deepseek', '--api-key-env', 'DS_KEY'], { env: { DS_KEY: 'sk-deepseek-test-1234' } });
    expect(ds.code, ds.stderr).toBe(0);
    expect(saved(home)[0]).toMatchObject({
      id: 'ds',
      base_url: 'https://api.deepseek.com/anthropic',
      auth_mode: 'auto',
      models: ['claude-*', 'deepseek-*'],
      model_map: { 'claude-*': 'deepseek-chat' },
      api_key: 'sk-deepseek-test-1234',
    });
    const glm = await runCli(home, ['endpoint', 'add', 'glm', '--preset', 'zhipu', '--api-key', 'k-zhipu-12345', '--model-map', 'claude-*=glm-5', '--auth-mode', 'bearer']);
    expect(glm.code, glm.stderr).toBe(0);
    expect(saved(home)[1]).toMatchObject({ base_url: 'https://open.bigmodel.cn/api/anthropic', auth_mode: 'bearer', model_map: { 'claude-*': 'glm-5' }, models: ['claude-*', 'glm-*'] });
    const unknown = await runCli(home, ['endpoint', 'add', 'x', '--preset', 'nope']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('no preset "nope"; there are: anthropic, deepseek, moonshot, zhipu, minimax, bedrock, vertex');
    expect(saved(home)).toHaveLength(2);
  });
});
