import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { Harness, endpoint } from '../helpers/servers.js';
import type { HealthReport } from '../../src/cli/health.js';

const h = new Harness();
afterEach(() => h.closeAll());

describe('qcc health', () => {
  it('judges a good, a wrong-answer and a dead endpoint, and exits non-zero', async () => {
    const good = await h.sim({ name: 'good' });
    const wrong = await h.sim({ name: 'wrong', behavior: { answer: 'I am a teapot' } });
    const dead = await h.sim();
    await dead.close();
    const home = tempHome();
    writeConfig(home, { version: 1, endpoints: [endpoint('good', good), endpoint('wrong', wrong), { id: 'dead', base_url: dead.url }] });
    const r = await runCli(home, ['health', '--json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.formula).toContain('availability');
    const verdict = Object.fromEntries(report.endpoints.map((e) => [e.id, e.ok]));
    expect(verdict).toEqual({ good: true, wrong: false, dead: false });
    const byId = Object.fromEntries(report.results.map((x) => [x.endpoint, x]));
    expect(byId.wrong!.error).toContain('wrong answer');
    expect(byId.dead!.error).toContain('ECONNREFUSED');
    expect(byId.good!.score).toBeGreaterThan(byId.wrong!.score!);
    expect(byId.wrong!.score).toBeGreaterThan(byId.dead!.score!);

    const table = await runCli(home, ['health']);
    expect(table.code).toBe(1);
    expect(table.stderr).toContain('checking good'); // progress while it runs
    expect(table.stdout).toMatch(/good\s+claude-haiku-4-5-20251001\s+ok/);
    expect(table.stdout).toMatch(/dead\s+claude-haiku-4-5-20251001\s+FAIL/);

    const one = await runCli(home, ['endpoint', 'test', 'good']);
    expect(one.code).toBe(0);
    const model = await runCli(home, ['health', '--endpoint', 'good', '--model', 'claude-sonnet-5', '--json']);
    expect((JSON.parse(model.stdout) as HealthReport).results.map((x) => x.model)).toEqual(['claude-sonnet-5']);
    const missing = await runCli(home, ['endpoint', 'test', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no endpoint "nope"');
  });

  it('checks each key of a pool apart: one bad key is named, and the endpoint still passes on the good one', async () => {
    const sim = await h.sim({ name: 'pool', behavior: { requireKey: 'sk-good-key-5678' } });
    const home = tempHome();
    writeConfig(home, { version: 1, endpoints: [endpoint('pool', sim, { api_keys: ['sk-bad-key-1234', 'sk-good-key-5678'] })] });
    const r = await runCli(home, ['health', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as HealthReport;
    expect(report.endpoints).toEqual([expect.objectContaining({ id: 'pool', ok: true, keys: [{ key: 'sk-bad-…1234', ok: false }, { key: 'sk-good-…5678', ok: true }] })]);
    const rows = Object.fromEntries(report.results.map((x) => [x.endpoint, x]));
    expect(rows['pool key sk-bad-…1234']!.error).toMatch(/401/);
    expect(rows['pool key sk-good-…5678']!.ok).toBe(true);
    expect(r.stdout).not.toContain('sk-bad-key-1234');
    const table = await runCli(home, ['health']);
    expect(table.stdout).toMatch(/pool key sk-bad-…1234\s+claude-haiku-4-5-20251001\s+FAIL/);
  });
});

