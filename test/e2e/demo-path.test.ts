import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { runCli, tempHome } from '../helpers/cli.js';
import { Harness, rawRequest } from '../helpers/servers.js';
import type { Simulator } from '../../src/sim/simulator.js';

/**
 * The README's first step is the demo: `qcc proxy start --demo` with nothing configured. What a user does there
 * must stick: the first real endpoint, added in the dashboard (Chromium) or with the CLI, is saved to the config
 * file, replaces the simulated endpoints and serves at once; `qcc proxy restart` keeps serving.
 */
const SHOTS = resolve('test-artifacts/dashboard');
const h = new Harness();
let browser: Browser;
let page: Page;
let home: string;
let url: string;
let mine: Simulator;

type Saved = { endpoints: { id: string; api_key?: string; simulated?: boolean }[] };
const saved = (): Saved => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as Saved;
const ask = async () => {
  const r = await rawRequest(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: r.status, endpoint: r.headers['x-qcc-endpoint'] as string | undefined };
};

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  mine = await h.sim({ name: 'mine', behavior: { requireKey: 'sk-mine-1234' } });
  home = tempHome();
  const start = await runCli(home, ['proxy', 'start', '--demo', '--port', '0']);
  expect(start.code, start.stderr).toBe(0);
  url = /listening on (\S+)/.exec(start.stdout)![1]!;
  ({ browser, page } = await launchChromium());
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await runCli(home, ['proxy', 'stop']);
  await h.closeAll();
});

describe('the demo path', () => {
  it('serves through the simulated endpoints, and saves none of them', async () => {
    expect((await ask()).endpoint).toMatch(/^demo-[ab]$/);
    expect(existsSync(join(home, 'config.json')) ? saved().endpoints : []).toEqual([]);
  });

  it('deleting a simulated endpoint in the dashboard takes it out of service (nothing to save)', async () => {
    const dashboard = (await runCli(home, ['dashboard', '--no-open'])).stdout.trim();
    await page.goto(dashboard);
    await page.getByRole('button', { name: 'Endpoints' }).click();
    const row = (id: string) => page.locator(`tr[data-endpoint="${id}"]`);
    await row('demo-a').waitFor();
    expect(await row('demo-a').textContent()).toContain('simulated');
    page.once('dialog', (d) => void d.accept());
    await row('demo-a').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => row('demo-a').count(), { timeout: 5000 }).toBe(0);
    for (let i = 0; i < 4; i++) expect((await ask()).endpoint).toBe('demo-b');
  });

  it('the first real endpoint added in the dashboard is saved with its key, replaces the simulated ones, and serves at once', async () => {
    const form = page.locator('[data-testid=add-form]');
    await form.locator('input[name=id]').fill('mine');
    await form.locator('input[name=base_url]').fill(mine.url);
    await form.locator('input[name=api_key]').fill('sk-mine-1234');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=message]').textContent(), { timeout: 5000 }).toContain('the simulated endpoints are gone');
    expect(saved().endpoints).toEqual([expect.objectContaining({ id: 'mine', api_key: 'sk-mine-1234' })]);
    await expect.poll(() => page.locator('tr[data-endpoint="demo-b"]').count(), { timeout: 5000 }).toBe(0);
    // Health-checked at once, not after the first five-minute interval (the check's answer has the right text).
    await expect.poll(() => page.locator('tr[data-endpoint="mine"] td').nth(7).textContent(), { timeout: 8000 }).toMatch(/^ok /);
    await page.screenshot({ path: join(SHOTS, 'demo-replaced.png'), fullPage: true });
    for (let i = 0; i < 3; i++) expect(await ask()).toEqual({ status: 200, endpoint: 'mine' });
    const list = await runCli(home, ['endpoint', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((e) => e.id)).toEqual(['mine']);
  });

  it('qcc proxy restart keeps the demo flag and serves the saved endpoint', async () => {
    const r = await runCli(home, ['proxy', 'restart']);
    expect(r.code, r.stderr).toBe(0);
    url = /listening on (\S+)/.exec(r.stdout)![1]!;
    expect(await ask()).toEqual({ status: 200, endpoint: 'mine' });
  });
});

describe('the demo path from the CLI', () => {
  it('qcc endpoint add while a demo runs: saved, serving at once, and it says so', async () => {
    const dir = tempHome();
    const start = await runCli(dir, ['proxy', 'start', '--demo', '--port', '0']);
    const demoUrl = /listening on (\S+)/.exec(start.stdout)![1]!;
    try {
      const sim = await h.sim({ name: 'cli-added' });
      const add = await runCli(dir, ['endpoint', 'add', 'real', '--base-url', sim.url]);
      expect(add.code, add.stderr).toBe(0);
      expect(add.stdout).toContain(`the running proxy (${demoUrl}) now serves through real instead of its simulated endpoints`);
      await expect
        .poll(async () => (await rawRequest(`${demoUrl}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) })).headers['x-qcc-endpoint'], { timeout: 5000, interval: 100 })
        .toBe('real');
    } finally {
      await runCli(dir, ['proxy', 'stop']);
    }
  });
});
