import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers point down (shared/docs/architecture.md): the transport (server/, upstream/) is plain HTTP/1.1 that
 * knows nothing above it; endpoints/ and balancer/ know no proxy, health or stats; config/ and shared/ know
 * nothing of the running program; protocols/ never reach into proxy/. Every import in src/ is checked, so a new one that points up fails here.
 */

const SRC = resolve('src');

/** For each folder, the folders of src/ it may import from (besides itself). */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  // The transport's two sides: the client reuses the server's HTTP pieces (head joining, header lines).
  server: ['shared'],
  upstream: ['shared', 'server'],
  config: ['shared'],
  balancer: ['shared', 'config'],
  endpoints: ['shared', 'config', 'balancer', 'upstream'],
  // Client keys know their config and nothing of the proxy that enforces them.
  keys: ['shared', 'config'],
  // Protocols turn a Messages request into an endpoint's own and its answer back; they know nothing of the proxy
  // that drives them (proxy/attempt.ts), nor of the observers.
  protocols: ['shared', 'config', 'endpoints', 'upstream', 'server', 'errors.js'],
  // Replicas' shared state: what the endpoints, health checker and key limits hold, carried over Redis.
  cluster: ['shared', 'config', 'endpoints', 'health', 'keys', 'log.js'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'/g)].map((m) => m[1]!);
}

describe('layers', () => {
  it('no module imports from a layer above its own', () => {
    const wrong: string[] = [];
    for (const [layer, allowed] of Object.entries(ALLOWED)) {
      for (const file of files(join(SRC, layer))) {
        for (const spec of importsOf(file)) {
          const target = relative(SRC, resolve(file, '..', spec)).split('/')[0]!;
          if (target !== layer && !allowed.includes(target)) wrong.push(`${relative(SRC, file)} imports ${spec}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});
