/**
 * The keys of one endpoint. Keys rotate; a key that gets 429 cools for its `retry-after`; a rejected key
 * (401/403/402) or a spent one is set aside for a long time and then tried again. An endpoint whose keys are
 * all out is unusable until one returns. An endpoint with no key passes the client's credentials through and
 * is never out of keys.
 */

export const KEY_REJECTED_MS = 30 * 60_000;
export const KEY_SPENT_MS = 15 * 60_000;
export const DEFAULT_RATE_LIMIT_MS = 30_000;
export const MAX_RATE_LIMIT_MS = 5 * 60_000;

export type KeyProblem = 'rejected' | 'rate-limited' | 'spent';

interface KeyState {
  key: string;
  outUntil: number;
  problem: KeyProblem | undefined;
}

export interface PickedKey {
  index: number;
  key: string;
}

export class KeyPool {
  private keys: KeyState[];
  private next = 0;

  constructor(keys: readonly string[]) {
    this.keys = keys.map((key) => ({ key, outUntil: 0, problem: undefined }));
  }

  get passThrough(): boolean {
    return this.keys.length === 0;
  }

  get size(): number {
    return this.keys.length;
  }

  usableCount(now: number): number {
    return this.keys.filter((k) => k.outUntil <= now).length;
  }

  hasUsable(now: number): boolean {
    return this.passThrough || this.keys.some((k) => k.outUntil <= now);
  }

  /** Milliseconds until some key is usable again (0 when one is usable now). */
  msUntilUsable(now: number): number {
    if (this.hasUsable(now)) return 0;
    return Math.min(...this.keys.map((k) => k.outUntil)) - now;
  }

  /** Round-robin over usable keys; undefined when all are out (or for pass-through, where there is none). */
  pick(now: number): PickedKey | undefined {
    const n = this.keys.length;
    for (let i = 0; i < n; i++) {
      const index = (this.next + i) % n;
      const k = this.keys[index]!;
      if (k.outUntil <= now) {
        this.next = (index + 1) % n;
        return { index, key: k.key };
      }
    }
    return undefined;
  }

  /** Set a key aside; returns until when (undefined for an index it does not have). */
  report(index: number, problem: KeyProblem, now: number, retryAfterSeconds?: number): number | undefined {
    const k = this.keys[index];
    if (!k) return undefined;
    k.problem = problem;
    const ms =
      problem === 'rejected'
        ? KEY_REJECTED_MS
        : problem === 'spent'
          ? KEY_SPENT_MS
          : Math.min(retryAfterSeconds !== undefined ? retryAfterSeconds * 1000 : DEFAULT_RATE_LIMIT_MS, MAX_RATE_LIMIT_MS);
    k.outUntil = now + ms;
    return k.outUntil;
  }

  /** A request with this key succeeded: whatever was wrong with it is over. True when something was. */
  clear(index: number): boolean {
    const k = this.keys[index];
    if (k === undefined || k.problem === undefined) return false;
    k.outUntil = 0;
    k.problem = undefined;
    return true;
  }

  /** Another replica set this key aside (or, with no problem, saw it work again). False: not one of this pool's keys. */
  adopt(key: string, problem: KeyProblem | undefined, until: number): boolean {
    const k = this.keys.find((s) => s.key === key);
    if (k === undefined) return false;
    k.problem = problem;
    k.outUntil = problem === undefined ? 0 : until;
    return true;
  }

  keyAt(index: number): string | undefined {
    return this.keys[index]?.key;
  }

  /** Keys set aside now, with why and until when (for the shared snapshot). */
  outKeys(now: number): { key: string; problem: KeyProblem; until: number }[] {
    return this.keys.filter((k) => k.problem !== undefined && k.outUntil > now).map((k) => ({ key: k.key, problem: k.problem!, until: k.outUntil }));
  }

  /** Why the pool is out, for status output: the problem of the key that returns soonest. */
  outReason(now: number): KeyProblem | undefined {
    if (this.hasUsable(now)) return undefined;
    let soonest: KeyState | undefined;
    for (const k of this.keys) if (!soonest || k.outUntil < soonest.outUntil) soonest = k;
    return soonest?.problem;
  }
}
