import { createHash, timingSafeEqual } from 'node:crypto';
import type { ClientKeyConfig } from '../config/schema.js';
import { keyHash, looksLikeClientKey } from './secret.js';

/** What a presented credential is: a client key in force, a legacy access key, or refused (and why). */
export type Identified =
  | { kind: 'key'; key: ClientKeyConfig }
  | { kind: 'access-key'; name: string }
  | { kind: 'revoked' | 'expired'; key: ClientKeyConfig }
  | { kind: 'unknown' };

/**
 * Who may call the proxy: team members' client keys (`client_keys`, stored as keyed hashes) and the older shared
 * `proxy.access_keys` (kept working as unlimited keys, named `access_keys[N]` in the request log).
 *
 * A client key is found by its HMAC in a map. The lookup's timing depends only on the HMAC, which nobody can steer
 * towards a stored one without the pepper; the match is then confirmed with a constant-time comparison. Access
 * keys (any string) are compared as before: every one, by SHA-256 digest, in constant time.
 */
export class ClientKeyRegistry {
  private readonly byHash = new Map<string, { key: ClientKeyConfig; expiresAt: number }>();
  private readonly accessDigests: Buffer[];
  /**
   * Credentials already verified as a key of this registry (the registry is rebuilt on every config change, so a
   * revoked or rotated key leaves with it). Claude Code sends the same key on every request: the HMAC (~2 µs) is
   * paid once. A hit needs the exact 256-bit secret, so the map's timing tells a guesser nothing; bounded.
   */
  private readonly verified = new Map<string, ClientKeyConfig>();

  constructor(
    keys: readonly ClientKeyConfig[],
    accessKeys: readonly string[],
    private readonly pepper: Buffer | undefined,
  ) {
    for (const k of keys) this.byHash.set(k.hash, { key: k, expiresAt: k.expires_at === undefined ? Number.POSITIVE_INFINITY : Date.parse(k.expires_at) });
    this.accessDigests = accessKeys.map(sha256);
  }

  /** A key is required once any exists, revoked ones included (revoking the last key must not open the door). */
  get required(): boolean {
    return this.byHash.size > 0 || this.accessDigests.length > 0;
  }

  /** Whether client keys exist but cannot be verified (the pepper is missing): every key is refused then. */
  get unverifiable(): boolean {
    return this.byHash.size > 0 && this.pepper === undefined;
  }

  identify(presented: string, now: number): Identified {
    if (this.pepper !== undefined && this.byHash.size > 0 && looksLikeClientKey(presented)) {
      const known = this.verified.get(presented);
      const hash = known?.hash ?? keyHash(presented, this.pepper);
      const entry = this.byHash.get(hash);
      if (entry !== undefined && (known !== undefined || timingSafeEqual(Buffer.from(hash), Buffer.from(entry.key.hash)))) {
        const { key } = entry;
        if (key.revoked_at !== undefined) return { kind: 'revoked', key };
        if (entry.expiresAt <= now) return { kind: 'expired', key };
        if (known === undefined) {
          if (this.verified.size >= 1_000) this.verified.clear();
          this.verified.set(presented, key);
        }
        return { kind: 'key', key };
      }
    }
    if (this.accessDigests.length > 0) {
      const d = sha256(presented);
      let index = -1;
      // No early exit: every configured key is compared.
      for (let i = 0; i < this.accessDigests.length; i++) if (timingSafeEqual(d, this.accessDigests[i]!) && index === -1) index = i;
      if (index !== -1) return { kind: 'access-key', name: `access_keys[${index}]` };
    }
    return { kind: 'unknown' };
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
