import { createHash, timingSafeEqual } from 'node:crypto';
import { clientHeader, type ClientRequest } from './client.js';
import type { ClientAuth } from './handler.js';

/**
 * Client access keys, compared in constant time. Keys are hashed first so every comparison is between two
 * 32-byte digests: neither a key's length nor its prefix leaks through timing.
 */
export class AccessKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  get required(): boolean {
    return this.digests.length > 0;
  }

  /** The matching header, or null when a key is required and none matched. */
  check(req: ClientRequest): ClientAuth | null {
    if (!this.required) return { accessKeyHeader: undefined };
    const xApiKey = clientHeader(req, 'x-api-key');
    if (typeof xApiKey === 'string' && this.matches(xApiKey)) return { accessKeyHeader: 'x-api-key' };
    const authorization = clientHeader(req, 'authorization');
    if (typeof authorization === 'string' && /^bearer /i.test(authorization) && this.matches(authorization.slice(7).trim())) {
      return { accessKeyHeader: 'authorization' };
    }
    return null;
  }

  private matches(presented: string): boolean {
    const d = digest(presented);
    let ok = false;
    // No early exit: every configured key is compared.
    for (const k of this.digests) ok = timingSafeEqual(d, k) || ok;
    return ok;
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time equality of two secrets (the admin token). */
export function secretEquals(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export { isLoopbackHost } from '../shared/loopback.js';
