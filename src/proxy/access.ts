import { createHash, timingSafeEqual } from 'node:crypto';
import { clientHeader, type ClientRequest } from '../server/client.js';
import type { ClientAuth } from './handler.js';
import { ProxyError } from '../errors.js';
import type { ClientKeyRegistry, Identified } from '../keys/registry.js';

/** No key configured: the proxy is open (to the loopback clients it listens for). */
const OPEN: ClientAuth = { accessKeyHeader: undefined, clientKey: undefined, keyName: undefined };

/**
 * The client's credential, checked against the registry (keys/registry.ts). Claude Code sends its key as
 * `x-api-key` (ANTHROPIC_API_KEY), as `Authorization: Bearer` (ANTHROPIC_AUTH_TOKEN), or as both (apiKeyHelper):
 * whichever headers carried qcc's key are never forwarded upstream.
 */
export function checkClient(registry: ClientKeyRegistry, req: ClientRequest, now: number): ClientAuth | ProxyError {
  if (!registry.required) return OPEN;
  const apiKey = clientHeader(req, 'x-api-key');
  const authorization = clientHeader(req, 'authorization');
  const bearer = typeof authorization === 'string' && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : undefined;
  let refused: Identified | undefined;
  if (typeof apiKey === 'string' && apiKey.length > 0) {
    const id = registry.identify(apiKey, now);
    if (id.kind === 'key' || id.kind === 'access-key') return authFor(id, bearer === apiKey ? 'both' : 'x-api-key');
    if (id.kind !== 'unknown') refused = id;
  }
  if (bearer !== undefined && bearer.length > 0 && bearer !== apiKey) {
    const id = registry.identify(bearer, now);
    if (id.kind === 'key' || id.kind === 'access-key') return authFor(id, 'authorization');
    if (id.kind !== 'unknown') refused = id;
  }
  if (refused?.kind === 'revoked') {
    return new ProxyError('unauthorized', `qcc key "${refused.key.name}" was revoked at ${refused.key.revoked_at}; ask whoever runs qcc for a new one`);
  }
  if (refused?.kind === 'expired') {
    return new ProxyError('unauthorized', `qcc key "${refused.key.name}" expired at ${refused.key.expires_at}; ask whoever runs qcc to extend it (qcc key set ${refused.key.name} --expires …)`);
  }
  if (registry.unverifiable) {
    return new ProxyError('unauthorized', 'qcc cannot verify client keys: its key pepper is missing (QCC_KEY_PEPPER or the client-key-pepper file); restore it or rotate every key');
  }
  const presented = apiKey !== undefined || bearer !== undefined;
  return new ProxyError(
    'unauthorized',
    presented ? 'the key sent is not one qcc knows: send a qcc key (qcc key add) as x-api-key or Authorization: Bearer' : 'qcc requires a key: send it as x-api-key or Authorization: Bearer',
  );
}

function authFor(id: Extract<Identified, { kind: 'key' | 'access-key' }>, header: ClientAuth['accessKeyHeader']): ClientAuth {
  return id.kind === 'key' ? { accessKeyHeader: header, clientKey: id.key, keyName: id.key.name } : { accessKeyHeader: header, clientKey: undefined, keyName: id.name };
}

/** Constant-time equality of two secrets (the admin token). */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export { isLoopbackHost } from '../shared/loopback.js';
