import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { request } from 'undici';
import { runCli, tempHome, writeConfig } from '../helpers/cli.js';
import { serviceAccount, serviceAccountFile } from '../helpers/clouds.js';
import { Harness, endpoint, rawRequest } from '../helpers/servers.js';
import type { Simulator } from '../../src/sim/simulator.js';
import { startTinyproxy } from '../helpers/outbound-proxies.js';

/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core), against a proxy started by
 * the built CLI over simulated endpoints. Screenshots of every page land in test-artifacts/ for a person to see.
 */
const SHOTS = resolve('test-artifacts/dashboard');
const h = new Harness();
let browser: Browser;
let page: Page;
let home: string;
let url: string;
let dashboard: string;
let sims: Record<string, Simulator>;

const post = async (body: Record<string, unknown>) => {
  const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ max_tokens: 5, messages: [{ role: 'user', content: 'hi' }], ...body }) });
  await res.body.dump();
  return res;
};
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const row = (id: string) => page.locator(`tr[data-endpoint="${id}"]`);

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  sims = {
    alpha: await h.sim({ name: 'alpha', behavior: { usage: { cache_read_input_tokens: 100 } } }),
    beta: await h.sim({ name: 'beta' }),
    broken: await h.sim({ name: 'broken', behavior: { status: 500, errorMessage: 'simulated outage' } }),
    gamma: await h.sim({ name: 'gamma' }),
  };
  home = tempHome();
  writeConfig(home, {
    version: 1,
    proxy: { session_affinity: false },
    endpoints: [
      endpoint('alpha', sims.alpha!, { models: ['claude-haiku-4-5-20251001'] }),
      endpoint('beta', sims.beta!, { models: ['claude-haiku-4-5-20251001'] }),
      endpoint('broken', sims.broken!, { models: ['claude-broken'] }),
    ],
  });
  const start = await runCli(home, ['proxy', 'start', '--port', '0']);
  url = /listening on (\S+)/.exec(start.stdout)![1]!;
  dashboard = (await runCli(home, ['dashboard', '--no-open'])).stdout.trim();
  ({ browser, page } = await launchChromium());
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await runCli(home, ['proxy', 'stop']);
  await h.closeAll();
});

describe('dashboard', () => {
  it('qcc dashboard prints a URL carrying the admin token', () => {
    const token = readFileSync(join(home, 'admin-token'), 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(22); // 32 random bytes, base64url
    expect(dashboard).toBe(`${url}/dashboard/#token=${token}`);
  });

  it('opens with the token, goes live, and shows the simulated endpoints', async () => {
    for (let i = 0; i < 6; i++) await post({ model: 'claude-haiku-4-5-20251001' });
    await page.goto(dashboard);
    await page.getByText('live').first().waitFor();
    await page.getByRole('button', { name: 'Endpoints' }).click();
    await row('alpha').waitFor();
    await expect.poll(() => row('alpha').locator('[data-testid=state]').textContent(), { timeout: 5000 }).toBe('healthy');
    expect(await row('beta').isVisible()).toBe(true);
    expect(page.url()).not.toContain('token='); // the token leaves the address bar once read
    await shot('endpoints');
    await page.getByRole('button', { name: 'Overview' }).click();
    await page.getByText('requests/s (latest)').waitFor();
    await expect.poll(async () => Number(await page.locator('.card .v').first().textContent()), { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    await shot('overview');
  });

  it('disabling an endpoint changes its state live and moves the traffic', async () => {
    await page.getByRole('button', { name: 'Endpoints' }).click();
    await row('alpha').getByRole('button', { name: 'Disable' }).click();
    await expect.poll(() => row('alpha').locator('[data-testid=state]').textContent(), { timeout: 5000 }).toBe('disabled');
    const before = sims.alpha!.messageCalls;
    const served = new Set<string>();
    for (let i = 0; i < 10; i++) served.add(String((await post({ model: 'claude-haiku-4-5-20251001' })).headers['x-qcc-endpoint']));
    expect([...served]).toEqual(['beta']);
    expect(sims.alpha!.messageCalls).toBe(before);
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; enabled: boolean }[] };
    expect(saved.endpoints.find((e) => e.id === 'alpha')!.enabled).toBe(false); // persisted, not just live
    await shot('endpoint-disabled');
  });

  it('shows a failing endpoint\'s requests in the log, with their attempt chain', async () => {
    const failed = await post({ model: 'claude-broken' });
    expect(failed.statusCode).toBe(500);
    await page.getByRole('button', { name: 'Requests' }).click();
    await page.locator('input[name=failed]').check();
    const failedRow = page.locator('[data-testid=requests] tr.fail-row').first();
    await failedRow.waitFor({ timeout: 10_000 });
    expect(await failedRow.textContent()).toContain('broken:500');
    // The filter applies as soon as the filtered list arrives: only failed rows remain.
    await expect.poll(() => page.locator('[data-testid=requests] tbody tr:not(.fail-row)').count(), { timeout: 5000 }).toBe(0);
    await shot('requests-failed');
    await page.getByRole('button', { name: 'Endpoints' }).click(); // where the next test works
  });

  it('a form the server refuses keeps what was typed, and says why', async () => {
    const form = page.locator('[data-testid=add-form]');
    await form.locator('input[name=id]').fill('lan');
    await form.locator('input[name=base_url]').fill('http://192.168.1.10:3000');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=message]').textContent(), { timeout: 5000 }).toMatch(/^error: .*allow_insecure_http/);
    expect(await form.locator('input[name=id]').inputValue()).toBe('lan');
    expect(await form.locator('input[name=base_url]').inputValue()).toBe('http://192.168.1.10:3000');
    await form.locator('input[name=id]').fill('');
    await form.locator('input[name=base_url]').fill('');
  });

  it('adds an endpoint; its key is stored but never shown back', async () => {
    const form = page.locator('[data-testid=add-form]');
    await form.locator('input[name=id]').fill('gamma');
    await form.locator('input[name=base_url]').fill(sims.gamma!.url);
    await form.locator('input[name=api_key]').fill('sk-gamma-secret-7777');
    await form.locator('button[type=submit]').click();
    await row('gamma').waitFor();
    await expect.poll(() => row('gamma').locator('[data-testid=state]').textContent(), { timeout: 5000 }).toBe('healthy');
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; api_key?: string }[] };
    expect(saved.endpoints.find((e) => e.id === 'gamma')!.api_key).toBe('sk-gamma-secret-7777');
    expect(await page.content()).not.toContain('sk-gamma-secret-7777');
    expect(await row('gamma').textContent()).toContain('…7777');
    await row('gamma').getByRole('button', { name: 'Test now' }).click();
    await expect.poll(() => page.locator('[data-testid=message]').textContent(), { timeout: 10_000 }).toContain('gamma: claude-haiku-4-5-20251001 ok');
  });

  it('adds an endpoint from a vendor preset: its models and model map come with it', async () => {
    const vendor = await h.sim({ name: 'vendor' });
    const form = page.locator('[data-testid=add-form]');
    await form.locator('select[name=preset]').selectOption('zhipu');
    expect(await form.locator('input[name=id]').inputValue()).toBe('zhipu');
    expect(await form.locator('input[name=base_url]').inputValue()).toBe('https://open.bigmodel.cn/api/anthropic');
    await expect.poll(() => form.locator('[data-testid=preset-hint]').textContent()).toContain('claude-haiku-* → glm-4.5-air');
    // Pointed at the simulator instead (no test reaches the vendor).
    await form.locator('input[name=base_url]').fill(vendor.url);
    await form.locator('input[name=api_key]').fill('zhipu-key-1234');
    await form.locator('button[type=submit]').click();
    await row('zhipu').waitFor();
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; base_url?: string; models: string[]; model_map: Record<string, string> }[] };
    expect(saved.endpoints.find((e) => e.id === 'zhipu')).toMatchObject({ base_url: vendor.url, models: ['claude-*', 'glm-*'], model_map: { 'claude-*': 'glm-4.6', 'claude-haiku-*': 'glm-4.5-air' } });
    page.once('dialog', (d) => void d.accept());
    await row('zhipu').getByRole('button', { name: 'Delete' }).click();
    await row('zhipu').waitFor({ state: 'detached' });
  });

  it('adds a Vertex AI endpoint: project, region and service account instead of a key; checked through its protocol', async () => {
    const account = serviceAccount();
    const cloud = await h.sim({ name: 'vertex', vertex: { project: account.project, clientEmail: account.clientEmail, publicKey: account.publicKey } });
    const file = serviceAccountFile(account, `${cloud.url}/token`);
    const form = page.locator('[data-testid=add-form]');
    await form.locator('input[name=id]').fill('gcp');
    await form.locator('select[name=protocol]').selectOption('vertex');
    // The base URL is optional for a cloud (its regional host); here it points at the simulated Vertex.
    await form.locator('input[name=base_url]').fill(cloud.url);
    await form.locator('input[name=project]').fill(account.project);
    await form.locator('input[name=region]').fill('global');
    await form.locator('input[name=credentials_file]').fill(file);
    await shot('endpoints-add-vertex');
    await form.locator('button[type=submit]').click();
    await row('gcp').waitFor();
    expect(await row('gcp').textContent()).toContain(`service account ${file}`);
    const saved = JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; vertex?: unknown }[] };
    expect(saved.endpoints.find((e) => e.id === 'gcp')!.vertex).toEqual({ project: account.project, region: 'global', credentials_file: file });
    await row('gcp').getByRole('button', { name: 'Test now' }).click();
    await expect.poll(() => page.locator('[data-testid=message]').textContent(), { timeout: 10_000 }).toContain('gcp: claude-haiku-4-5-20251001 ok');
    expect(cloud.cloud.tokensIssued).toBeGreaterThanOrEqual(1);

    // Edited: another region, a pool of two service accounts, a price factor; all saved, checked by the schema.
    await row('gcp').getByRole('button', { name: 'Edit' }).click();
    const edit = page.locator('[data-testid=edit-form]');
    expect(await edit.locator('select[name=protocol]').inputValue()).toBe('vertex');
    await edit.locator('input[name=region]').fill('europe-west1');
    await edit.locator('input[name=credentials_files]').fill(`${file}, ${file}.second`);
    await edit.locator('input[name=price_factor]').fill('1.1');
    await edit.locator('button[type=submit]').click();
    const gcp = () => (JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; vertex?: unknown; price_factor?: number }[] }).endpoints.find((e) => e.id === 'gcp')!;
    await expect.poll(() => gcp().price_factor, { timeout: 5000 }).toBe(1.1);
    expect(gcp().vertex).toEqual({ project: account.project, region: 'europe-west1', credentials_files: [file, `${file}.second`] });
    await expect.poll(() => row('gcp').textContent(), { timeout: 5000 }).toContain('2 service accounts');
    // A region the schema refuses is said, and nothing changes.
    await row('gcp').getByRole('button', { name: 'Edit' }).click();
    await page.locator('[data-testid=edit-form]').locator('input[name=region]').fill('Frankfurt');
    await page.locator('[data-testid=edit-form]').locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=edit-error]').textContent(), { timeout: 5000 }).toContain('must be a Vertex AI region');
    expect((gcp().vertex as { region: string }).region).toBe('europe-west1');
    await page.locator('[data-testid=edit-form]').getByRole('button', { name: 'Cancel' }).click();
    page.once('dialog', (d) => void d.accept());
    await row('gcp').getByRole('button', { name: 'Delete' }).click();
    await row('gcp').waitFor({ state: 'detached' });
  });

  it('edits a weight, reorders priority and deletes an endpoint, each saved to the config file', async () => {
    const saved = () => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { endpoints: { id: string; weight: number; priority: number }[] };
    await row('beta').getByRole('button', { name: 'Edit' }).click();
    const form = page.locator('[data-testid=edit-form]');
    await form.locator('label', { hasText: 'weight' }).locator('input').fill('4');
    await form.locator('input[name=api_key]').fill('sk-beta-secret-5555');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => saved().endpoints.find((e) => e.id === 'beta')!.weight, { timeout: 5000 }).toBe(4);
    expect((saved().endpoints.find((e) => e.id === 'beta') as { api_key?: string }).api_key).toBe('sk-beta-secret-5555');
    await expect.poll(() => row('beta').textContent(), { timeout: 5000 }).toContain('…5555');
    expect(await page.content()).not.toContain('sk-beta-secret-5555');
    await expect.poll(() => row('beta').textContent(), { timeout: 5000 }).toContain('4 /');

    const order = () => saved().endpoints.slice().sort((a, b) => a.priority - b.priority).map((e) => e.id);
    const before = order();
    const last = before.at(-1)!;
    await row(last).getByRole('button', { name: '↑' }).click();
    await expect.poll(() => order().indexOf(last), { timeout: 5000 }).toBe(before.length - 2);

    page.once('dialog', (d) => void d.accept());
    await row('gamma').getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.locator('[data-testid=message]').textContent(), { timeout: 5000 }).toContain('deleted gamma');
    await expect.poll(() => saved().endpoints.some((e) => e.id === 'gamma'), { timeout: 5000 }).toBe(false);
    await expect.poll(() => row('gamma').count(), { timeout: 5000 }).toBe(0);
    await shot('endpoints-edited');
  });

  it('sets an endpoint\'s proxy and the default proxy: routes shown, passwords masked and kept when saved unchanged', async () => {
    const tiny = await startTinyproxy();
    h.onClose(() => tiny.close());
    const saved = () => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { proxy: { upstream_proxy?: string }; endpoints: { id: string; proxy?: string; weight: number }[] };
    const secretUrl = tiny.url.replace('http://', 'http://dash:dash-pw-42@');
    await page.getByRole('button', { name: 'Endpoints' }).click();
    await row('beta').getByRole('button', { name: 'Edit' }).click();
    let form = page.locator('[data-testid=edit-form]');
    await form.locator('input[name=proxy]').fill(secretUrl);
    await form.locator('button[type=submit]').click();
    await expect.poll(() => saved().endpoints.find((e) => e.id === 'beta')!.proxy, { timeout: 5000 }).toBe(secretUrl);
    const masked = `via ${secretUrl.replace('dash-pw-42', '***')}`;
    await expect.poll(() => row('beta').locator('[data-testid=route]').textContent(), { timeout: 5000 }).toBe(masked);
    expect(await row('alpha').locator('[data-testid=route]').textContent()).toBe('direct');
    // Traffic to beta (alpha was disabled above) now goes through the proxy.
    for (let i = 0; i < 4; i++) await post({ model: 'claude-haiku-4-5-20251001' });
    expect(tiny.log()).toContain(`CONNECT 127.0.0.1:${sims.beta!.port}`);
    await shot('endpoint-proxy');

    // Saved again with the masked value in the field: the password stays.
    await row('beta').getByRole('button', { name: 'Edit' }).click();
    form = page.locator('[data-testid=edit-form]');
    expect(await form.locator('input[name=proxy]').inputValue()).toBe(secretUrl.replace('dash-pw-42', '***'));
    await form.locator('label', { hasText: 'weight' }).locator('input').fill('5');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => saved().endpoints.find((e) => e.id === 'beta')!.weight, { timeout: 5000 }).toBe(5);
    expect(saved().endpoints.find((e) => e.id === 'beta')!.proxy).toBe(secretUrl);

    await page.getByRole('button', { name: 'Config' }).click();
    const settings = page.locator('[data-testid=settings-form]');
    await settings.locator('input[name=upstream_proxy]').fill('socks5h://u:cfg-pw-9@127.0.0.1:1080');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=settings-message]').textContent(), { timeout: 5000 }).toBe('settings saved');
    expect(saved().proxy.upstream_proxy).toBe('socks5h://u:cfg-pw-9@127.0.0.1:1080');
    expect(await settings.locator('input[name=upstream_proxy]').inputValue()).toBe('socks5h://u:***@127.0.0.1:1080');
    await settings.locator('input[name=upstream_proxy]').fill('gopher://nope');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=settings-message]').textContent(), { timeout: 5000 }).toContain('unsupported proxy scheme');
    expect(await settings.locator('input[name=upstream_proxy]').inputValue()).toBe('gopher://nope'); // what was typed stays
    await settings.locator('input[name=upstream_proxy]').fill('');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => saved().proxy.upstream_proxy, { timeout: 5000 }).toBeUndefined();
    for (const secret of ['dash-pw-42', 'cfg-pw-9']) expect(await page.content()).not.toContain(secret);
    // And in what the admin API answers, whatever the page shows of it.
    const token = readFileSync(join(home, 'admin-token'), 'utf8').trim();
    for (const path of ['/api/endpoints', '/api/status', '/api/settings', '/api/config/export']) {
      const r = await request(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      const text = await r.body.text();
      expect(r.statusCode, path).toBe(200);
      expect(text, path).not.toContain('dash-pw-42');
    }
    await shot('config-settings');
  });

  it('hedging: set from the config page, and its races shown on the overview and in the request list', async () => {
    const config = () => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { proxy: { hedge?: { after_ms: number | string; enabled: boolean } } };
    await page.getByRole('button', { name: 'Config' }).click();
    const settings = page.locator('[data-testid=settings-form]');
    expect(await settings.locator('input[name=hedge_after]').inputValue()).toBe('auto');
    await settings.locator('input[name=hedge_after]').fill('soon');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=settings-message]').textContent(), { timeout: 5000 }).toContain('proxy.hedge.after_ms');
    await settings.locator('input[name=hedge_after]').fill('200');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => config().proxy.hedge?.after_ms, { timeout: 5000 }).toBe(200);

    // beta (the only endpoint left for this model) now stalls after message_start; a new one, on gamma's simulator,
    // takes the hedges.
    expect((await runCli(home, ['endpoint', 'add', 'delta', '--base-url', sims.gamma!.url, '--models', 'claude-haiku-4-5-20251001'])).code).toBe(0);
    await expect.poll(async () => (await runCli(home, ['proxy', 'status'])).stdout, { timeout: 5000 }).toContain('delta');
    sims.beta!.behavior = { stallAfterStartMs: 30_000 };
    try {
      await expect
        .poll(
          async () => {
            await post({ model: 'claude-haiku-4-5-20251001', stream: true });
            return sims.beta!.abortedResponses;
          },
          { timeout: 10_000, interval: 50 },
        )
        .toBeGreaterThan(0);
    } finally {
      sims.beta!.behavior = {};
    }
    await page.getByRole('button', { name: 'Overview' }).click();
    await expect.poll(() => page.locator('[data-testid=hedges-card] .v').textContent(), { timeout: 8000 }).toMatch(/^[1-9]\d* \/ [1-9]\d*$/);
    // The abandoned attempts had sent message_start, which reports their input tokens.
    expect(await page.locator('[data-testid=hedge-cost-card] .v').textContent()).toMatch(/^[\d.]+ m?s \/ [1-9][\d,]*$/);
    await page.getByRole('button', { name: 'Requests' }).click();
    await expect.poll(() => page.locator('td.chain', { hasText: 'hedge delta:200' }).count(), { timeout: 8000 }).toBeGreaterThan(0);
    expect(await page.locator('td.chain', { hasText: 'beta:lost' }).count()).toBeGreaterThan(0);
    await shot('hedges');
    await page.getByRole('button', { name: 'Config' }).click();
    await settings.locator('input[name=hedge_after]').fill('auto');
    await settings.locator('button[type=submit]').click();
    await expect.poll(() => config().proxy.hedge?.after_ms, { timeout: 5000 }).toBe('auto');
    expect((await runCli(home, ['endpoint', 'remove', 'delta'])).code).toBe(0);
  });

  it('every other proxy, health and stats setting is shown and edited on the Config page, checked by the schema', async () => {
    const config = () => JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as { health: { interval_s?: number }; stats: { retention_days?: number }; proxy: { session_affinity?: boolean } };
    await page.getByRole('button', { name: 'Config' }).click();
    const form = page.locator('[data-testid=all-settings]');
    const field = (name: string) => form.locator(`input[name="${name}"]`);
    expect(await field('health.interval_s').inputValue()).toBe('300');
    expect(await field('health.models').inputValue()).toBe('claude-haiku-4-5-20251001');
    await field('health.interval_s').fill('soon');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=all-settings-message]').textContent(), { timeout: 5000 }).toMatch(/^error: .*health\.interval_s/s);
    expect(await field('health.interval_s').inputValue()).toBe('soon'); // kept, to be corrected
    await field('health.interval_s').fill('120');
    await field('stats.retention_days').fill('7');
    await form.locator('input[name="proxy.session_affinity"]').uncheck();
    await form.locator('button[type=submit]').click();
    await expect.poll(() => page.locator('[data-testid=all-settings-message]').textContent(), { timeout: 5000 }).toContain('saved:');
    expect(config()).toMatchObject({ health: { interval_s: 120 }, stats: { retention_days: 7 }, proxy: { session_affinity: false } });
    // An emptied field goes back to its default.
    await field('health.interval_s').fill('');
    await form.locator('input[name="proxy.session_affinity"]').check();
    await form.locator('button[type=submit]').click();
    await expect.poll(() => config().health.interval_s, { timeout: 5000 }).toBe(300);
    await shot('config-all-settings');
  });

  it('requests: found by id, opened in detail with every attempt, and paged back past the newest', async () => {
    // A request with a failover (the refused endpoint first), to see both attempts in its detail.
    expect((await runCli(home, ['endpoint', 'add', 'first-refused', '--base-url', 'http://127.0.0.1:1', '--priority', '0', '--models', 'claude-paged'])).code).toBe(0);
    expect((await runCli(home, ['endpoint', 'add', 'then-ok', '--base-url', sims.beta!.url, '--priority', '5', '--models', 'claude-paged'])).code).toBe(0);
    await expect.poll(async () => (await runCli(home, ['proxy', 'status'])).stdout, { timeout: 5000 }).toContain('then-ok');
    // Balanced by weighted round robin: send until one request went to the refused endpoint first.
    let id: string | undefined;
    for (let i = 0; i < 10 && id === undefined; i++) {
      const res = await request(`${url}/v1/messages`, { method: 'POST', body: JSON.stringify({ model: 'claude-paged', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      await res.body.dump();
      if (res.headers['x-qcc-attempts'] === '2') id = res.headers['x-qcc-request-id'] as string;
    }
    expect(id).toBeDefined();
    for (let i = 0; i < 110; i++) await post({ model: 'claude-haiku-4-5-20251001' }); // more than a page
    await page.getByRole('button', { name: 'Requests' }).click();
    await page.locator('input[name=request_id]').fill(id!);
    const detail = page.locator(`[data-detail="${id}"]`);
    await detail.waitFor();
    expect(await detail.textContent()).toContain(id!);
    expect(await detail.locator('table.attempts tbody tr').count()).toBe(2);
    expect(await detail.textContent()).toMatch(/first-refused.*connection refused.*connect: .*ECONNREFUSED/s);
    await shot('request-detail');
    await page.locator('input[name=request_id]').fill('');
    await expect.poll(() => page.locator('table[data-testid=requests] > tbody > tr[data-request]').count(), { timeout: 5000 }).toBe(100);
    const newest = await page.locator('tr[data-request]').first().getAttribute('data-request');
    await page.locator('[data-testid=older]').click();
    await expect.poll(() => page.locator('tr[data-request]').first().getAttribute('data-request'), { timeout: 5000 }).not.toBe(newest);
    await expect.poll(() => page.locator('tr[data-request]').count(), { timeout: 5000 }).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Newest' }).click();
    await expect.poll(() => page.locator('tr[data-request]').first().getAttribute('data-request'), { timeout: 5000 }).toBe(newest);
    for (const e of ['first-refused', 'then-ok']) expect((await runCli(home, ['endpoint', 'remove', e])).code).toBe(0);
  });

  it('the edit form takes every field of an endpoint, saved to the config file; a refused value keeps the form', async () => {
    expect((await runCli(home, ['endpoint', 'add', 'editme', '--base-url', sims.gamma!.url, '--models', 'claude-editme'])).code).toBe(0);
    type Saved = { endpoints: Record<string, unknown>[] };
    const saved = () => (JSON.parse(readFileSync(join(home, 'config.json'), 'utf8')) as Saved).endpoints.find((e) => e.id === 'editme')!;
    await page.getByRole('button', { name: 'Endpoints' }).click();
    await row('editme').waitFor();
    await row('editme').getByRole('button', { name: 'Edit' }).click();
    const form = page.locator('[data-testid=edit-form]');
    await form.locator('input[name=models]').fill('claude-editme, claude-other');
    await form.locator('input[name=model_map]').fill('claude-editme=vendor-editme');
    await form.locator('select[name=auth_mode]').selectOption('bearer');
    await form.locator('select[name=protocol]').selectOption('openai');
    await form.locator('select[name=reasoning]').selectOption('drop');
    await form.locator('input[name=map_effort]').check();
    await form.locator('input[name=health_models]').fill('claude-editme');
    await form.locator('input[name=oauth_passthrough]').check();
    await form.locator('input[name=api_keys]').fill('sk-pool-one-1111, sk-pool-two-2222');
    await form.locator('input[name=max_concurrency]').fill('-3');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => form.locator('[data-testid=edit-error]').textContent(), { timeout: 5000 }).toContain('max_concurrency');
    expect(await form.locator('input[name=models]').inputValue()).toBe('claude-editme, claude-other'); // kept
    await form.locator('input[name=max_concurrency]').fill('4');
    await form.locator('button[type=submit]').click();
    await expect.poll(() => saved().max_concurrency, { timeout: 5000 }).toBe(4);
    expect(saved()).toMatchObject({
      models: ['claude-editme', 'claude-other'],
      model_map: { 'claude-editme': 'vendor-editme' },
      auth_mode: 'bearer',
      protocol: 'openai',
      openai: { reasoning: 'drop', map_effort: true },
      health_models: ['claude-editme'],
      oauth_passthrough: true,
      api_keys: ['sk-pool-one-1111', 'sk-pool-two-2222'],
    });
    expect(await page.content()).not.toContain('sk-pool-one-1111');
    expect((await runCli(home, ['endpoint', 'remove', 'editme'])).code).toBe(0);
  });

  it('a refused connection reads as such in the request list', async () => {
    expect((await runCli(home, ['endpoint', 'add', 'refused', '--base-url', 'http://127.0.0.1:1', '--models', 'claude-refused'])).code).toBe(0);
    await expect.poll(async () => (await runCli(home, ['proxy', 'status'])).stdout, { timeout: 5000 }).toContain('refused');
    const res = await post({ model: 'claude-refused' });
    expect(res.statusCode).toBe(502);
    await page.getByRole('button', { name: 'Requests' }).click();
    await expect.poll(() => page.locator('td.chain', { hasText: 'refused:connection refused' }).count(), { timeout: 8000 }).toBeGreaterThan(0);
    expect((await runCli(home, ['endpoint', 'remove', 'refused'])).code).toBe(0);
  });

  it('an invalid config on disk shows as a banner until it is fixed', async () => {
    const file = join(home, 'config.json');
    const valid = readFileSync(file, 'utf8');
    writeFileSync(file, '{ "version": 1, "endpoints": [ }');
    try {
      await expect.poll(() => page.locator('[data-testid=config-problem]').count(), { timeout: 8000 }).toBe(1);
      expect(await page.locator('[data-testid=config-problem]').textContent()).toMatch(/config file on disk is invalid since .*line 1, column \d+.*qcc runs with the last valid config/s);
      await shot('config-problem');
    } finally {
      writeFileSync(file, valid);
    }
    await expect.poll(() => page.locator('[data-testid=config-problem]').count(), { timeout: 8000 }).toBe(0);
  });

  it('the overview reads in the units of its cards: the success chart in per cent', async () => {
    await page.getByRole('button', { name: 'Overview' }).click();
    const success = page.locator('.chart', { hasText: 'Success rate' });
    await expect.poll(() => success.textContent(), { timeout: 8000 }).toMatch(/latest: \d+(\.\d+)? %/);
    expect(await page.locator('.card', { hasText: 'success rate' }).first().textContent()).toMatch(/\d+(\.\d+)? %/);
    // Axes: 0 and the maximum with the unit, three times along the bottom; a read-out of time and values per sample.
    expect(await success.locator('.y-axis').textContent()).toMatch(/^[\d.]+ %0 %$/);
    expect(await success.locator('.x-axis span').count()).toBe(3);
    const readouts = await success.locator('rect.hover title').allTextContents();
    expect(readouts).toHaveLength(60);
    expect(readouts.at(-1)).toMatch(/^\d\d:\d\d( [AP]M)?: latest [\d.]+ %$/);
    await success.hover();
    await shot('overview');
  });

  it('health and config pages render; export leaves keys out', async () => {
    await page.getByRole('button', { name: 'Health' }).click();
    await page.locator('[data-health=alpha]').waitFor();
    await shot('health');
    await page.getByRole('button', { name: 'Config' }).click();
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await expect.poll(() => page.locator('[data-testid=config-result]').textContent(), { timeout: 5000 }).toContain('without keys');
    const exported = await page.locator('[data-testid=config-text]').inputValue();
    expect(exported).toContain('"beta"');
    expect(exported).not.toContain('sk-beta-secret-5555');
    expect(exported).not.toContain('"api_key"');
    await shot('config');
  });

  it('keys: created with limits (secret shown once), enforced, edited, rotated and revoked; no secret or hash in any answer', async () => {
    page.on('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Keys', exact: true }).click();
    await page.getByText('No client keys').waitFor();
    const add = page.locator('[data-testid=key-add]');
    await add.locator('input[name=name]').fill('carol');
    await add.locator('input[name=rpm]').fill('2');
    await add.locator('input[name=budget]').fill('1');
    await add.locator('select[name=per]').selectOption('day');
    await add.getByRole('button', { name: 'create' }).click();
    const secret = (await page.locator('[data-testid=secret-value]').textContent())!;
    expect(secret).toMatch(/^qcc-[A-Za-z0-9_-]{43}$/);
    await shot('keys-secret');
    await page.getByRole('button', { name: 'I have saved it' }).click();
    const call = async (key: string) => {
      const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key }, body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
      await res.body.dump();
      return res.statusCode;
    };
    expect([await call(secret), await call(secret), await call(secret)]).toEqual([200, 200, 429]);
    const carol = page.locator('tr[data-key=carol]');
    await expect.poll(() => carol.textContent(), { timeout: 10_000 }).toContain('2/2 req');
    expect(await carol.textContent()).toContain('of $1.00 / day');
    await shot('keys');
    // Edit: the rpm emptied (no limit), a model allowlist set.
    await carol.getByRole('button', { name: 'edit' }).click();
    const edit = page.locator('[data-testid=key-edit]');
    await edit.locator('input[name=rpm]').fill('');
    await edit.locator('input[name=models]').fill('claude-haiku-*');
    await edit.getByRole('button', { name: 'save' }).click();
    await expect.poll(() => carol.textContent()).toContain('models claude-haiku-*');
    expect(await call(secret)).toBe(200);
    // Rotate: a new secret, the old one refused at once; revoke: refused, listed as such.
    await carol.getByRole('button', { name: 'rotate' }).click();
    await page.locator('[data-testid=secret-value]').waitFor();
    const rotated = (await page.locator('[data-testid=secret-value]').textContent())!;
    expect(rotated).not.toBe(secret);
    await page.getByRole('button', { name: 'I have saved it' }).click();
    expect([await call(secret), await call(rotated)]).toEqual([401, 200]);
    await carol.getByRole('button', { name: 'revoke' }).click();
    await expect.poll(() => carol.locator('td').nth(2).textContent()).toBe('revoked');
    expect(await call(rotated)).toBe(401);
    const token = readFileSync(join(home, 'admin-token'), 'utf8').trim();
    const listed = await request(`${url}/api/keys`, { headers: { authorization: `Bearer ${token}` } });
    const text = await listed.body.text();
    expect(text).toContain('"carol"');
    expect(text).not.toContain(secret.slice(10));
    expect(text).not.toContain(rotated.slice(10));
    expect(text).not.toContain('hmac-sha256');
    expect(readFileSync(join(home, 'config.json'), 'utf8')).not.toContain(rotated);
    // Removed (through the API): the proxy is open again for the tests after this one.
    const removed = await request(`${url}/api/keys/carol`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(removed.statusCode).toBe(200);
    await removed.body.dump();
    expect(await call('anything')).toBe(200);
  });

  it('works at 420 px wide: no page scrolls sideways (wide tables scroll inside themselves)', async () => {
    await page.setViewportSize({ width: 420, height: 900 });
    try {
      for (const tab of ['Overview', 'Endpoints', 'Requests', 'Keys', 'Health', 'Config']) {
        await page.getByRole('button', { name: tab, exact: true }).click();
        await page.waitForTimeout(300);
        const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
        expect(overflow, tab).toBeLessThanOrEqual(0);
        await page.screenshot({ path: join(SHOTS, `${tab.toLowerCase()}-420.png`), fullPage: true });
      }
    } finally {
      await page.setViewportSize({ width: 1400, height: 900 });
    }
  });

  it('without the token: 401 from the API, a clear page in the browser', async () => {
    const bare = await browser.newPage();
    await bare.goto(`${url}/dashboard/`);
    await bare.locator('[data-testid=needs-token]').waitFor();
    expect(await bare.textContent('body')).toContain('qcc dashboard');
    await bare.screenshot({ path: join(SHOTS, 'no-token.png') });
    await bare.close();
    const wrong = await browser.newPage();
    await wrong.goto(`${url}/dashboard/#token=wrong-token`);
    await wrong.getByText('was not accepted').waitFor({ timeout: 8000 });
    await wrong.close();
    expect((await request(`${url}/api/status`)).statusCode).toBe(401);
    expect((await request(`${url}/api/status`, { headers: { authorization: 'Bearer nope' } })).statusCode).toBe(401);
  });

  it('refuses path traversal and cross-origin writes', async () => {
    for (const path of ['/dashboard/../config.json', '/dashboard/%2e%2e/%2e%2e/package.json', '/dashboard/..%2f..%2fadmin-token', '/dashboard/vendor/../../../admin-token']) {
      const r = await rawRequest(`${url}${path}`, {});
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain(readFileSync(join(home, 'admin-token'), 'utf8').trim());
    }
    const token = readFileSync(join(home, 'admin-token'), 'utf8').trim();
    const evil = await request(`${url}/api/endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, origin: 'http://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'evil', base_url: 'https://evil.example' }),
    });
    expect(evil.statusCode).toBe(403);
    await evil.body.dump();
    const form = await request(`${url}/api/endpoints`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'id=x' });
    expect(form.statusCode).toBe(415);
    await form.body.dump();
  });
});
