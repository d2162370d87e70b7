import { request as httpRequest } from 'node:http';
import { createApp, type App, type AppDeps } from '../../src/app.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/sim/simulator.js';

/** Everything a test started, closed in reverse order by `closeAll`. */
export class Harness {
  private closers: (() => Promise<void>)[] = [];

  async sim(options: SimulatorOptions = {}): Promise<Simulator> {
    const sim = await startSimulator({ record: true, ...options });
    this.closers.push(() => sim.close());
    return sim;
  }

  /** A proxy app on 127.0.0.1:0 with the given config (validated, so defaults apply). */
  async proxy(config: unknown, deps: AppDeps = {}): Promise<{ app: App; url: string; config: Config }> {
    const parsed = configSchema.parse(config);
    const app = createApp(parsed, deps);
    const { url } = await app.listen(0, '127.0.0.1');
    this.closers.push(() => app.close(0));
    return { app, url, config: parsed };
  }

  onClose(fn: () => Promise<void> | void): void {
    this.closers.push(async () => fn());
  }

  async closeAll(): Promise<void> {
    for (const c of this.closers.reverse()) await c();
    this.closers = [];
  }
}

export function endpoint(id: string, sim: Simulator, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id, base_url: sim.url, ...extra };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until `fn` is true (for effects that happen after a response, like an upstream noticing an abort). */
export async function eventually(fn: () => boolean, timeoutMs = 3000, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(stepMs);
  }
}

/** A request through node:http, which (unlike undici) will send any header a test needs, hop-by-hop ones included. */
export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders; body: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** One small Messages request (JSON) to a proxy: its status and the endpoint qcc says served it. */
export async function postMessage(url: string, headers: Record<string, string> = {}): Promise<{ status: number; endpoint: string | null }> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'sk-client', 'anthropic-version': '2023-06-01', ...headers },
    body: JSON.stringify({ model: 'claude-haiku-4-5-20251001', max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  return { status: res.status, endpoint: res.headers.get('x-qcc-endpoint') };
}
