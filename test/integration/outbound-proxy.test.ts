import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as connectTcp } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppDeps } from '../../src/app.js';
import { createLogger } from '../../src/log.js';
import { failureOf } from '../../src/protocols/contract.js';
import { isProxySpec, parseProxyUrl } from '../../src/shared/proxy-url.js';
import { UpstreamClient, type Route, type UpstreamError } from '../../src/upstream/client.js';
import { requestResponse } from '../../src/upstream/request.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { freePort, PROXY_ONLY_HOST, startMicrosocks, startTinyproxy, type OutboundProxy } from '../helpers/outbound-proxies.js';
import { eventually, Harness } from '../helpers/servers.js';

/**
 * qcc's upstream client through real outbound proxies: tinyproxy (HTTP CONNECT) and microsocks (SOCKS5).
 * The simulator is addressed as PROXY_ONLY_HOST, a name only the proxies can resolve, so a request that arrives
 * went through the proxy; the proxies' own logs say so too.
 */

const TLS_CERT = readFileSync(new URL('../fixtures/tls/cert.pem', import.meta.url));
const TLS_KEY = readFileSync(new URL('../fixtures/tls/key.pem', import.meta.url));

function route(url: string): Route {
  const spec = parseProxyUrl(url);
  if (!isProxySpec(spec)) throw new Error(spec.problem);
  return { proxy: spec };
}

const BODY = Buffer.from(JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }));

async function post(client: UpstreamClient, origin: string, r: Route | undefined): Promise<{ status: number; text: string }> {
  const res = await requestResponse(client, {
    origin,
    route: r,
    path: '/v1/messages',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': String(BODY.length) },
    body: BODY,
    headersTimeout: 5_000,
    bodyTimeout: 5_000,
  });
  return { status: res.statusCode, text: await res.text() };
}

async function failure(p: Promise<unknown>): Promise<UpstreamError & { beforeWrite: boolean }> {
  try {
    await p;
  } catch (e: unknown) {
    return e as UpstreamError & { beforeWrite: boolean };
  }
  throw new Error('expected the request to fail');
}

let sim: Simulator;
let tlsSim: Simulator;
let plain: OutboundProxy;
let authed: OutboundProxy;
let socks: OutboundProxy;
let socksAuthed: OutboundProxy;
const clients: UpstreamClient[] = [];

function newClient(opts: ConstructorParameters<typeof UpstreamClient>[0] = {}): UpstreamClient {
  const c = new UpstreamClient({ connectTimeoutMs: 3_000, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  [sim, tlsSim, plain, authed, socks, socksAuthed] = await Promise.all([
    startSimulator({ name: 'plain', record: true }),
    startSimulator({ name: 'tls', record: true, tls: { cert: TLS_CERT, key: TLS_KEY } }),
    startTinyproxy(),
    startTinyproxy({ user: 'alice', password: 's3cret' }),
    startMicrosocks(),
    startMicrosocks({ user: 'bob', password: 'hunter2' }),
  ]);
});

afterAll(async () => {
  for (const c of clients) await c.destroy();
  await Promise.all([sim, tlsSim, plain, authed, socks, socksAuthed].map((x) => x?.close()));
});

describe('through an HTTP proxy (CONNECT, tinyproxy)', () => {
  it('reaches an endpoint only the proxy can resolve, and reuses one tunnel for many requests', async () => {
    const client = newClient();
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    const r = route(plain.url);
    const before = plain.tunnels();
    for (let i = 0; i < 5; i++) expect((await post(client, origin, r)).status).toBe(200);
    expect(plain.log()).toContain(`CONNECT ${PROXY_ONLY_HOST}:${sim.port}`);
    expect(plain.tunnels() - before).toBe(1);
    expect(client.connectionCount(origin, r)).toBe(1);
    // And the host the endpoint saw is its own, not the proxy's.
    expect(sim.requests.at(-1)!.headers.host).toBe(`${PROXY_ONLY_HOST}:${sim.port}`);
  });

  it('lays the endpoint\'s own TLS over the tunnel, with its certificate checked', async () => {
    const origin = `https://localhost:${tlsSim.port}`;
    const trusting = newClient({ ca: TLS_CERT });
    const calls = tlsSim.messageCalls;
    expect((await post(trusting, origin, route(plain.url))).status).toBe(200);
    expect(tlsSim.messageCalls).toBe(calls + 1);
    expect(plain.log()).toContain(`CONNECT localhost:${tlsSim.port}`);

    // Node's roots do not include the test CA: the check is on, and the failure names the proxy.
    const err = await failure(post(newClient(), origin, route(plain.url)));
    expect(err.beforeWrite).toBe(true);
    expect(failureOf(err)).toBe('connect');
    expect(err.message).toMatch(/certificate/i);
    expect(err.message).toContain(`via http://127.0.0.1:${plain.port}`);
    expect(tlsSim.messageCalls).toBe(calls + 1);
  });

  it('sends Basic credentials; wrong ones are a clear, masked error before anything was sent', async () => {
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    expect((await post(newClient(), origin, route(authed.url))).status).toBe(200);

    const wrong = authed.url.replace('s3cret', 'wrong-pass');
    const err = await failure(post(newClient(), origin, route(wrong)));
    expect(err.code).toBe('QCC_PROXY_AUTH');
    expect(err.beforeWrite).toBe(true);
    // tinyproxy says 401 where the standard says 407; both are read as the proxy's credentials.
    expect(err.message).toMatch(new RegExp(`^proxy http://alice:\\*\\*\\*@127\\.0\\.0\\.1:${authed.port} rejected the credentials: 40[17] `));
    expect(err.message).not.toContain('wrong-pass');

    const none = await failure(post(newClient(), origin, route(`http://127.0.0.1:${authed.port}`)));
    expect(none.message).toMatch(/asks for credentials \(put user:pass@ in the proxy URL\)/);
  });

  it('a proxy that cannot be reached, or will not open the tunnel, is named with the cause', async () => {
    const port = await freePort();
    const err = await failure(post(newClient(), `http://${PROXY_ONLY_HOST}:${sim.port}`, route(`http://u:pw@127.0.0.1:${port}`)));
    expect(err.code).toBe('QCC_PROXY_UNREACHABLE');
    expect(err.message).toBe(`could not reach proxy http://u:***@127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(failureOf(err)).toBe('connect');

    // tinyproxy answers CONNECT to a name nobody resolves with an error status.
    const refused = await failure(post(newClient(), 'http://nowhere.qcc-test.invalid:80', route(plain.url)));
    expect(refused.code).toBe('QCC_PROXY_REFUSED');
    expect(refused.message).toMatch(new RegExp(`^proxy http://127.0.0.1:${plain.port} refused CONNECT nowhere.qcc-test.invalid:80: 5\\d\\d`));
  });
});

describe('through a SOCKS5 proxy (microsocks)', () => {
  it('socks5h: the proxy resolves the name; many requests share one connection', async () => {
    const client = newClient();
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    const r = route(socks.url);
    const before = socks.tunnels();
    for (let i = 0; i < 4; i++) expect((await post(client, origin, r)).status).toBe(200);
    await eventually(() => socks.log().includes(`connected to ${PROXY_ONLY_HOST}:${sim.port}`));
    expect(socks.tunnels() - before).toBe(1);
  });

  it('socks5: the name is resolved here, so a name only the proxy knows fails and says to use socks5h', async () => {
    const err = await failure(post(newClient(), `http://${PROXY_ONLY_HOST}:${sim.port}`, route(socks.url.replace('socks5h:', 'socks5:'))));
    expect(err.code).toBe('QCC_PROXY_DNS');
    expect(err.message).toMatch(/could not resolve sim\.qcc-test\.invalid locally .* use socks5h:\/\//);
    // A name this machine resolves works with socks5, the address being what the proxy sees.
    expect((await post(newClient(), `http://localhost:${sim.port}`, route(socks.url.replace('socks5h:', 'socks5:')))).status).toBe(200);
  });

  it('TLS over SOCKS, certificate checked', async () => {
    expect((await post(newClient({ ca: TLS_CERT }), `https://localhost:${tlsSim.port}`, route(socks.url))).status).toBe(200);
  });

  it('user name and password: right ones pass, wrong ones are a clear error', async () => {
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    expect((await post(newClient(), origin, route(socksAuthed.url))).status).toBe(200);
    const err = await failure(post(newClient(), origin, route(socksAuthed.url.replace('hunter2', 'nope'))));
    expect(err.code).toBe('QCC_PROXY_AUTH');
    expect(err.beforeWrite).toBe(true);
    expect(err.message).not.toContain('nope');
    expect(err.message).toContain(`socks5h://bob:***@127.0.0.1:${socksAuthed.port}`);
    const none = await failure(post(newClient(), origin, route(`socks5h://127.0.0.1:${socksAuthed.port}`)));
    expect(none.code).toBe('QCC_PROXY_AUTH');
    expect(none.message).toMatch(/asks for credentials/);
  });

  it('a reply code from the proxy is named', async () => {
    // The port is closed: microsocks answers "connection refused" (reply 5).
    const port = await freePort();
    const err = await failure(post(newClient(), `http://${PROXY_ONLY_HOST}:${port}`, route(socks.url)));
    expect(err.code).toBe('QCC_PROXY_REFUSED');
    expect(err.message).toContain(`could not open ${PROXY_ONLY_HOST}:${port}: reply 5, connection refused`);
  });
});

describe('through an https:// proxy (the proxy itself reached over TLS)', () => {
  it('opens the tunnel over TLS to the proxy, the endpoint\'s own TLS inside it, both certificates checked', async () => {
    // A small CONNECT proxy that speaks TLS itself (Debian's tinyproxy does not).
    let connects = 0;
    const open = new Set<{ destroy(): void }>();
    const proxyServer = createTlsServer({ cert: TLS_CERT, key: TLS_KEY }, (client) => {
      open.add(client);
      client.on('error', () => undefined);
      client.once('data', (d: Buffer) => {
        const m = /^CONNECT ([^ :]+):(\d+) HTTP\/1\.1\r\n/.exec(d.toString('latin1'));
        if (!m) return void client.destroy();
        connects++;
        const upstream = connectTcp(Number(m[2]), m[1] === 'localhost' ? '127.0.0.1' : m[1]!, () => {
          client.write('HTTP/1.1 200 Connection established\r\n\r\n');
          client.pipe(upstream);
          upstream.pipe(client);
        });
        open.add(upstream);
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
      });
    });
    await new Promise<void>((r) => proxyServer.listen(0, '127.0.0.1', r));
    const port = (proxyServer.address() as { port: number }).port;
    try {
      const r = route(`https://localhost:${port}`);
      const client = newClient({ ca: TLS_CERT });
      expect((await post(client, `http://localhost:${sim.port}`, r)).status).toBe(200);
      expect((await post(client, `https://localhost:${tlsSim.port}`, r)).status).toBe(200);
      expect((await post(client, `https://localhost:${tlsSim.port}`, r)).status).toBe(200);
      expect(connects).toBe(2); // one tunnel per origin, reused
      // Without the test CA, the proxy's own certificate is refused, and the error names the proxy.
      const err = await failure(post(newClient(), `http://localhost:${sim.port}`, r));
      expect(err.code).toBe('QCC_PROXY_UNREACHABLE');
      expect(err.message).toMatch(new RegExp(`^TLS to proxy https://localhost:${port}: .*certificate`));
    } finally {
      for (const socket of open) socket.destroy(); // the tunnels qcc keeps alive would hold close() open
      await new Promise<void>((r) => proxyServer.close(() => r()));
    }
  });
});

describe('routes', () => {
  it('an unusable route fails at once, before anything is sent', async () => {
    const err = await failure(post(newClient(), `http://127.0.0.1:${sim.port}`, { proxy: undefined, problem: 'environment variable HTTPS_PROXY: bad' }));
    expect(err.code).toBe('QCC_PROXY_INVALID');
    expect(err.beforeWrite).toBe(true);
  });

  it('direct and proxied connections to one origin are separate pools', async () => {
    const client = newClient();
    const origin = `http://localhost:${sim.port}`;
    const r = route(plain.url);
    await post(client, origin, undefined);
    await post(client, origin, r);
    expect(client.connectionCount(origin)).toBe(1);
    expect(client.connectionCount(origin, r)).toBe(1);
  });
});

describe('through qcc: requests, health checks and failover take each endpoint\'s route', () => {
  const harness = new Harness();
  afterAll(() => harness.closeAll());

  async function qcc(config: Record<string, unknown>, deps: AppDeps = {}) {
    const home = mkdtempSync(join(tmpdir(), 'qcc-route-'));
    const logLines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    const statsFile = join(home, 'qcc.db');
    const started = await harness.proxy({ version: 1, ...config }, { statsFile, logger: createLogger('debug', { destination }), env: {}, ...deps });
    const client = new Anthropic({ baseURL: started.url, apiKey: 'client-key', maxRetries: 0 });
    return { ...started, client, statsFile, log: () => logLines.join('') };
  }

  const ask = async (client: Anthropic) => {
    const raw = await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    return { endpoint: raw.response.headers.get('x-qcc-endpoint'), attempts: raw.response.headers.get('x-qcc-attempts'), text: (raw.data.content[0] as { text: string }).text };
  };

  it('the SDK\'s requests, streamed or not, and the health check reach the endpoint through each kind of proxy', async () => {
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    const { app, client } = await qcc({
      proxy: { strategy: 'priority' },
      endpoints: [
        { id: 'via-http', base_url: origin, allow_insecure_http: true, proxy: plain.url, priority: 0, models: ['claude-haiku-4-5-20251001'] },
        { id: 'via-socks', base_url: origin, allow_insecure_http: true, proxy: socksAuthed.url, priority: 1, models: ['claude-haiku-4-5-20251001'] },
        { id: 'openai-via-http', base_url: origin, allow_insecure_http: true, proxy: plain.url, protocol: 'openai', api_key: 'sk-vendor', models: ['vendor-model'] },
      ],
    });

    const before = plain.tunnels();
    expect((await ask(client)).endpoint).toBe('via-http');
    const stream = client.messages.stream({ model: 'claude-haiku-4-5-20251001', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    expect((await stream.finalMessage()).stop_reason).toBe('end_turn');
    expect(plain.tunnels() - before).toBe(1); // both requests on one tunnel
    // The OpenAI-protocol path takes the endpoint's route too (here the same tunnel: same proxy, same origin).
    const viaOpenAI = await client.messages.create({ model: 'vendor-model', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    expect(viaOpenAI.response.headers.get('x-qcc-endpoint')).toBe('openai-via-http');
    expect(sim.requests.at(-1)!.path).toBe('/v1/chat/completions');
    expect(sim.requests.at(-1)!.headers.host).toBe(`${PROXY_ONLY_HOST}:${sim.port}`); // only the proxy resolves that name
    const checks = await app.health.checkEndpoint(app.pool.get('via-socks')!);
    expect(checks.every((c) => c.ok)).toBe(true);
    await eventually(() => socksAuthed.log().includes(`connected to ${PROXY_ONLY_HOST}:${sim.port}`));
    const routes = Object.fromEntries(app.status().endpoints.map((e) => [e.id, e.route]));
    expect(routes['via-http']).toEqual({ via: 'proxy', source: 'endpoint', label: `via http://127.0.0.1:${plain.port}`, proxy_url: `http://127.0.0.1:${plain.port}` });
    expect(routes['via-socks']!.label).toBe(`via socks5h://bob:***@127.0.0.1:${socksAuthed.port}`);
  });

  it('a proxy that rejects its credentials, or is dead, fails over to the next endpoint, never to the client', async () => {
    const deadPort = await freePort();
    const direct = await harness.sim({ name: 'direct' });
    const { app, client, statsFile, log } = await qcc({
      proxy: { strategy: 'priority' },
      endpoints: [
        { id: 'bad-creds', base_url: `http://${PROXY_ONLY_HOST}:${sim.port}`, allow_insecure_http: true, proxy: authed.url.replace('s3cret', 'wrong-secret-77'), priority: 0 },
        { id: 'dead-proxy', base_url: `http://${PROXY_ONLY_HOST}:${sim.port}`, allow_insecure_http: true, proxy: `socks5h://carol:pw-dead-88@127.0.0.1:${deadPort}`, priority: 1 },
        { id: 'direct', base_url: direct.url, priority: 2 },
      ],
    });
    const first = await ask(client);
    expect(first).toMatchObject({ endpoint: 'direct', attempts: '3' });
    for (let i = 0; i < 3; i++) expect((await ask(client)).endpoint).toBe('direct');
    const status = Object.fromEntries(app.status().endpoints.map((e) => [e.id, e]));
    expect(status['bad-creds']!.last_error).toMatch(new RegExp(`^connect: proxy http://alice:\\*\\*\\*@127\\.0\\.0\\.1:${authed.port} rejected the credentials: 40[17]`));
    expect(status['dead-proxy']!.last_error).toBe(`connect: could not reach proxy socks5h://carol:***@127.0.0.1:${deadPort}: connection refused (ECONNREFUSED)`);
    // Connect failures open the breaker after two: the bad routes are set aside, not retried per request.
    expect(status['bad-creds']!.state).toBe('queued');

    // The passwords are nowhere: not in the status, the log, or the request log.
    app.flushStats();
    const everything = [JSON.stringify(app.status()), log(), readFileSync(statsFile).toString('latin1')].join('\n');
    expect(log()).toContain('rejected the credentials');
    for (const secret of ['wrong-secret-77', 'pw-dead-88', 's3cret']) expect(everything).not.toContain(secret);
  });

  it('the environment: HTTP_PROXY routes an endpoint with no setting; NO_PROXY and "direct" keep it off the proxy', async () => {
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    const viaEnv = await qcc({ endpoints: [{ id: 'env', base_url: origin, allow_insecure_http: true }] }, { env: { HTTP_PROXY: plain.url, NO_PROXY: 'localhost,.corp.example' } });
    const before = plain.tunnels();
    expect((await ask(viaEnv.client)).endpoint).toBe('env');
    expect(plain.tunnels() - before).toBe(1);
    expect(viaEnv.app.status().endpoints[0]!.route.label).toBe(`via env HTTP_PROXY (http://127.0.0.1:${plain.port})`);

    // NO_PROXY names the host: qcc goes direct, where the name does not resolve, and the proxy sees nothing.
    for (const [deps, config, source] of [
      [{ env: { HTTP_PROXY: plain.url, NO_PROXY: '.qcc-test.invalid' } }, {}, 'no_proxy'],
      [{ env: { HTTP_PROXY: plain.url } }, { proxy: { upstream_proxy: 'direct' } }, 'config'],
    ] as const) {
      const { app, client } = await qcc({ ...config, endpoints: [{ id: 'env', base_url: origin, allow_insecure_http: true }] }, deps);
      const seen = plain.tunnels();
      const err = await client.messages.create({ model: 'claude-haiku-4-5-20251001', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Anthropic.APIError);
      expect(app.status().endpoints[0]!.route).toMatchObject({ via: 'direct', source });
      expect(app.status().endpoints[0]!.last_error).toMatch(/ENOTFOUND|getaddrinfo/);
      expect(plain.tunnels()).toBe(seen);
    }
  });

  it('a config reload that changes the proxy takes the new route at once', async () => {
    const origin = `http://${PROXY_ONLY_HOST}:${sim.port}`;
    const { app, client, config } = await qcc({ endpoints: [{ id: 'e', base_url: origin, allow_insecure_http: true, proxy: plain.url }] });
    expect((await ask(client)).endpoint).toBe('e');
    const beforeSocks = socks.tunnels();
    app.reload({ ...config, endpoints: [{ ...config.endpoints[0]!, proxy: socks.url }] });
    expect((await ask(client)).endpoint).toBe('e');
    await eventually(() => socks.tunnels() > beforeSocks);
    expect(app.status().endpoints[0]!.route.label).toBe(`via ${socks.url}`);
  });
});
