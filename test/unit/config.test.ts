import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError, loadConfig, saveConfig, updateConfig } from '../../src/config/load.js';
import { migrate } from '../../src/config/migrate.js';
import { configSchema, defaultConfig } from '../../src/config/schema.js';
import { writeFileAtomic } from '../../src/config/atomic-write.js';

const golden = (name: string): unknown => JSON.parse(readFileSync(join(import.meta.dirname, '../golden', name), 'utf8'));
const tmp = () => mkdtempSync(join(tmpdir(), 'qcc-config-'));

describe('migrations', () => {
  it('turns the legacy single-endpoint form into endpoint "default" (golden file)', () => {
    const { value, changes } = migrate(golden('legacy-in.json'));
    expect(value).toEqual(golden('legacy-out.json'));
    expect(changes).toHaveLength(1);
    expect(configSchema.safeParse(value).success).toBe(true);
  });

  it('leaves a current config alone', () => {
    const current = { version: 1, endpoints: [{ id: 'a', base_url: 'https://x.example' }] };
    expect(migrate(current)).toEqual({ value: current, changes: [] });
  });
});

describe('schema', () => {
  it('fills defaults from a minimal file', () => {
    const c = configSchema.parse({ version: 1, endpoints: [{ id: 'a', base_url: 'https://x.example' }] });
    expect(c.proxy).toMatchObject({ host: '127.0.0.1', port: 7860, access_keys: [], strategy: 'weighted-round-robin' });
    expect(c.endpoints[0]).toMatchObject({ auth_mode: 'auto', weight: 1, enabled: true, models: [], model_map: {} });
  });

  it('rejects duplicate ids and api_key together with api_keys, naming the path', () => {
    const file = join(tmp(), 'config.json');
    writeFileSync(file, JSON.stringify({ version: 1, endpoints: [{ id: 'a', base_url: 'https://x.example', api_key: 'k', api_keys: ['k2'] }, { id: 'a', base_url: 'https://y.example' }] }));
    const err = (() => {
      try {
        loadConfig(file);
      } catch (e: unknown) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual(
      expect.arrayContaining([expect.stringContaining('endpoints[0].api_keys: set either'), expect.stringContaining('endpoints[1].id: duplicate id "a"')]),
    );
  });
});

describe('saving', () => {
  it('writes atomically with mode 0600 and leaves no temp files', () => {
    const dir = tmp();
    const file = join(dir, 'config.json');
    saveConfig(file, defaultConfig());
    updateConfig(file, (c) => {
      c.proxy.port = 9000;
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(loadConfig(file).config.proxy.port).toBe(9000);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('a writer killed (SIGKILL) between write and rename leaves the old file intact', () => {
    const dir = tmp();
    const file = join(dir, 'config.json');
    saveConfig(file, defaultConfig());
    const before = readFileSync(file, 'utf8');
    const script = `import('${join(process.cwd(), 'dist/config/atomic-write.js')}').then((m) => m.writeFileAtomic(${JSON.stringify(file)}, '{"half":', 0o600, () => process.kill(process.pid, 'SIGKILL')))`;
    const r = spawnSync(process.execPath, ['-e', script]);
    expect(r.signal).toBe('SIGKILL');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(loadConfig(file).config.version).toBe(1);
  });

  it('a failed write cleans up its temp file and keeps the old content', () => {
    const dir = tmp();
    const file = join(dir, 'config.json');
    saveConfig(file, defaultConfig());
    const before = readFileSync(file, 'utf8');
    expect(() => writeFileAtomic(file, 'new', 0o600, () => { throw new Error('disk full'); })).toThrow('disk full');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('never writes an invalid config', () => {
    const file = join(tmp(), 'config.json');
    saveConfig(file, defaultConfig());
    const before = readFileSync(file, 'utf8');
    expect(() =>
      updateConfig(file, (c) => {
        c.proxy.port = -5;
      }),
    ).toThrow(ConfigError);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('returns defaults, and writes nothing, when there is no file', () => {
    const file = join(tmp(), 'config.json');
    expect(loadConfig(file)).toMatchObject({ exists: false, config: defaultConfig() });
    expect(existsSync(file)).toBe(false);
  });
});
