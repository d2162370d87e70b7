import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { addKey } from '../../src/keys/manage.js';
import type { AppStatus } from '../../src/shared/api-types.js';
import type { Simulator } from '../../src/sim/simulator.js';
import { launchChromium } from '../helpers/browser.js';
import { runCli, spawnCli, tempHome, writeConfig } from '../helpers/cli.js';
import { freePort } from '../helpers/outbound-proxies.js';
import { Harness, endpoint, sleep, postMessage as post } from '../helpers/servers.js';

/**
 * Three qcc replicas — real CLI processes, each with its own home — behind nginx running the config the README
 * ships (deploy/nginx-qcc-replicas.conf), sharing this machine's Redis (a key prefix per test) and PostgreSQL
 * (a schema per test). Issue #24's acceptance tests.
 */

const REDIS = process.env.QCC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.QCC_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PEPPER = 'a-test-pepper-shared-by-every-replica-0000';

interface Replica {
  id: string;
  home: string;
  port: number;
  url: string;
  child: ChildProcess;
  token: string;
}

class Deployment {
  readonly prefix = `qcc-e2e-${randomBytes(5).toString('hex')}`;
  readonly schema = `qcc_e2e_${randomBytes(5).toString('hex')}`;
  replicas: Replica[] = [];
  nginxUrl = '';
  private nginx: ChildProcess | undefined;

  async start(config: Record<string, unknown>, n = 3): Promise<void> {
    for (let i = 0; i < n; i++) {
      const home = tempHome();
      const port = await freePort();
      writeConfig(home, {
        ...config,
        proxy: { ...(config.proxy as object), port },
        state: { backend: 'redis', redis_url: REDIS, key_prefix: this.prefix, lease_ms: 2_000 },
        stats: { backend: 'postgres', postgres_url: PG_URL, postgres_schema: this.schema, flush_ms: 50 },
      });
      const id = `replica-${String.fromCharCode(97 + i)}`;
      const { child } = await spawnCli(home, ['proxy', 'start', '--foreground', '--log-level', 'warn'], /listening on/, { QCC_REPLICA_ID: id, QCC_KEY_PEPPER: PEPPER });
      this.replicas.push({ id, home, port, url: `http://127.0.0.1:${port}`, child, token: readFileSync(join(home, 'admin-token'), 'utf8').trim() });
    }
    await this.startNginx();
  }

  private async startNginx(): Promise<void> {
    const prefix = tempHome();
    mkdirSync(join(prefix, 'logs'));
    const port = await freePort();
    // The shipped file, with only the addresses replaced.
    let site = readFileSync(resolve('deploy/nginx-qcc-replicas.conf'), 'utf8').replace('listen 127.0.0.1:7860;', `listen 127.0.0.1:${port};`);
    this.replicas.forEach((r, i) => (site = site.replace(`server 127.0.0.1:${7861 + i} `, `server 127.0.0.1:${r.port} `)));
    writeFileSync(join(prefix, 'site.conf'), site);
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `worker_processes 1; daemon off; pid ${prefix}/nginx.pid; error_log stderr error;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; include ${prefix}/site.conf; }
`,
    );
    this.nginx = spawn('/usr/sbin/nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    this.nginxUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        await fetch(this.nginxUrl);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error('nginx did not start');
        await sleep(50);
      }
    }
  }

  async status(r: Replica): Promise<AppStatus> {
    const res = await fetch(`${r.url}/_qcc/status`, { headers: { 'x-qcc-admin-token': r.token } });
    return (await res.json()) as AppStatus;
  }

  async stop(): Promise<void> {
    this.nginx?.kill('SIGTERM');
    await Promise.all(
      this.replicas.map(
        (r) =>
          new Promise<void>((done) => {
            if (r.child.exitCode !== null || r.child.signalCode !== null) return done();
            r.child.once('exit', () => done());
            r.child.kill('SIGTERM');
          }),
      ),
    );
    const redis = createClient({ url: REDIS });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${this.prefix}:*`, COUNT: 500 })) if (keys.length > 0) await redis.del(keys);
    await redis.close();
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(`DROP SCHEMA IF EXISTS ${this.schema} CASCADE`);
    await db.end();
  }
}


const h = new Harness();
let deployment: Deployment | undefined;
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
  await h.closeAll();
});

function healthChecks(sims: Simulator[]): number {
  return sims.reduce((n, s) => n + s.requests.filter((r) => r.headers['x-qcc-health-check'] !== undefined).length, 0);
}

describe('three replicas behind nginx', () => {
  it('a failure through one replica reroutes all; one rpm limit for all; qcc stats on any replica counts every replica; a CLI change on one applies on all', async () => {
    const flaky = await h.sim({ behavior: { status: 503 } });
    const good = await h.sim();
    const base = configSchema.parse({ version: 1, proxy: { strategy: 'priority' }, health: { interval_s: 0 }, endpoints: [endpoint('flaky', flaky, { priority: 1 }), endpoint('good', good, { priority: 2 })] });
    const pepper = Buffer.from(PEPPER, 'utf8');
    const withOps = addKey(base, 'ops', {}, pepper, Date.now());
    const { config, secret } = addKey(withOps.config, 'team', { rpm: 10 }, pepper, Date.now());
    const ops = { 'x-api-key': withOps.secret };
    deployment = new Deployment();
    await deployment.start(config);
    const [a, b, c] = deployment.replicas as [Replica, Replica, Replica];

    // 1. Five server errors through A open "flaky" there; B and C avoid it within a second without trying it.
    for (let i = 0; i < 6; i++) expect((await post(a.url, ops)).status).toBe(200);
    const opened = Date.now();
    for (;;) {
      const states = await Promise.all([b, c].map(async (r) => (await deployment!.status(r)).endpoints.find((e) => e.id === 'flaky')!.state));
      if (states.every((s) => s === 'queued' || s === 'open')) break;
      if (Date.now() - opened > 1_000) throw new Error(`B and C still see flaky as ${states.join(', ')} after 1 s`);
      await sleep(20);
    }
    const flakyCalls = flaky.messageCalls;
    for (let i = 0; i < 6; i++) expect(await post(deployment.nginxUrl, ops)).toEqual({ status: 200, endpoint: 'good' });
    expect(flaky.messageCalls).toBe(flakyCalls);

    // 2. A team key with rpm 10: exactly 10 of 30 admitted across the three replicas.
    const answers = await Promise.all(Array.from({ length: 30 }, () => post(deployment!.nginxUrl, { 'x-api-key': secret })));
    expect(answers.filter((x) => x.status === 200)).toHaveLength(10);
    expect(answers.filter((x) => x.status === 429)).toHaveLength(20);

    // 3. qcc stats on C counts the requests A and B served (all of them, in PostgreSQL).
    const served = 6 + 6 + 30;
    let total = 0;
    for (let i = 0; i < 40 && total !== served; i++) {
      await sleep(100);
      const s = await runCli(c.home, ['stats', '--json', '--since', '1h', '--by', 'none']);
      expect(s.code, s.stderr).toBe(0);
      total = (JSON.parse(s.stdout) as { total: { requests: number } }).total.requests;
    }
    expect(total).toBe(served);
    const logs = await runCli(c.home, ['logs', '--json', '--tail', '100']);
    const replicasSeen = new Set(logs.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { replica: string }).replica));
    expect([...replicasSeen].sort()).toEqual(['replica-a', 'replica-b', 'replica-c']);
    // …and so does C's dashboard, in a browser: the failovers only A saw ("flaky:503 → good:200") are listed.
    const dashboard = (await runCli(c.home, ['dashboard', '--no-open'])).stdout.trim();
    const { browser, page } = await launchChromium();
    try {
      await page.goto(dashboard);
      await page.getByRole('button', { name: 'Requests' }).click();
      const failover = page.locator('[data-testid=requests] tr', { hasText: 'flaky:503' }).first();
      await failover.waitFor({ timeout: 10_000 });
      expect(await failover.textContent()).toContain('good:200');
    } finally {
      await browser.close();
    }

    // 4. An endpoint changed with the CLI of A: B and C run it within a couple of seconds.
    const set = await runCli(a.home, ['endpoint', 'set', 'good', '--weight', '7']);
    expect(set.code, set.stderr).toBe(0);
    const changed = Date.now();
    for (;;) {
      const weights = await Promise.all([b, c].map(async (r) => (await deployment!.status(r)).endpoints.find((e) => e.id === 'good')!.weight));
      if (weights.every((w) => w === 7)) break;
      if (Date.now() - changed > 2_000) throw new Error(`B and C have weight ${weights.join(', ')} 2 s after the change`);
      await sleep(50);
    }
    // …and saved it in their own file, so a restart starts from it.
    expect(JSON.parse(readFileSync(join(b.home, 'config.json'), 'utf8')).endpoints.find((e: { id: string }) => e.id === 'good').weight).toBe(7);
    const status = await runCli(b.home, ['proxy', 'status']);
    expect(status.stdout).toContain('replica replica-b');
    expect(status.stdout).toContain('limits shared');
  }, 60_000);

  it('sessions keep their endpoint across replicas; one replica health-checks for all, and another takes over when it dies', async () => {
    const sims = [await h.sim(), await h.sim(), await h.sim()];
    const config = configSchema.parse({ version: 1, health: { interval_s: 0.5 }, endpoints: sims.map((s, i) => endpoint(`e${i}`, s)) });
    deployment = new Deployment();
    await deployment.start(config);
    const reps = deployment.replicas;

    // Sessions: each sticks to the endpoint of its first request, through nginx's round robin.
    for (let s = 0; s < 5; s++) {
      const session = { 'x-claude-code-session-id': `e2e-${s}-${randomBytes(4).toString('hex')}` };
      const first = await post(deployment.nginxUrl, session);
      await sleep(30);
      for (let i = 0; i < 6; i++) expect((await post(deployment.nginxUrl, session)).endpoint).toBe(first.endpoint);
    }

    // One checker: all three name the same holder, and the simulators see one replica's worth of checks.
    let holder = '';
    for (let i = 0; i < 50; i++) {
      const names = await Promise.all(reps.map(async (r) => (await deployment!.status(r)).stores.state.health_checker));
      if (names[0] && names.every((n) => n === names[0])) {
        holder = names[0];
        break;
      }
      await sleep(100);
    }
    expect(holder).toMatch(/^replica-[abc]$/);
    const before = healthChecks(sims);
    await sleep(3_000);
    const checks = healthChecks(sims) - before;
    // Three endpoints checked every 0.5 s ±10 % by one replica: ~18 in 3 s; three checkers would send ~54.
    expect(checks).toBeGreaterThanOrEqual(9);
    expect(checks).toBeLessThanOrEqual(27);

    // The holder dies (no clean stop, no lease given back): another takes over within the lease time (2 s).
    const dead = reps.find((r) => r.id === holder)!;
    dead.child.kill('SIGKILL');
    const died = Date.now();
    const alive = reps.filter((r) => r !== dead);
    let successor = '';
    while (Date.now() - died < 4_000) {
      const names = await Promise.all(alive.map(async (r) => (await deployment!.status(r)).stores.state.health_checker));
      if (names[0] && names[0] !== holder && names.every((n) => n === names[0])) {
        successor = names[0];
        break;
      }
      await sleep(50);
    }
    expect(successor).not.toBe('');
    expect(Date.now() - died).toBeLessThan(2_000 + 1_000);
    const resumed = healthChecks(sims);
    await sleep(1_500);
    expect(healthChecks(sims)).toBeGreaterThan(resumed);
    // nginx passes over the dead replica: requests still succeed.
    for (let i = 0; i < 6; i++) expect((await post(deployment.nginxUrl)).status).toBe(200);
  }, 60_000);
});
