import type { EndpointRuntime } from '../endpoints/endpoint.js';
import type { PickedKey } from '../endpoints/key-pool.js';
import type { AttemptRecord } from './events.js';
import type { AttemptResult } from './forward.js';
import type { Usage } from './sse.js';

/**
 * The bookkeeping of a request's attempts when two may run at once (an attempt and its hedge): what is running,
 * and one queue of what happened to them, in order, for the handler's loop to take one at a time.
 */

/** One attempt under way. */
export interface RunningAttempt {
  /** 1-based, in the order attempts were started (the `x-qcc-attempts` header). */
  n: number;
  endpoint: EndpointRuntime;
  key: PickedKey | undefined;
  record: AttemptRecord;
  /** performance.now() at its start. */
  started: number;
  hedge: boolean;
}

export type RaceEvent =
  | { kind: 'settled'; run: RunningAttempt; result: AttemptResult }
  | { kind: 'threw'; run: RunningAttempt; error: unknown }
  /** The hedge delay of attempt `n` ran out (stale when another attempt has started since). */
  | { kind: 'hedge-due'; n: number };

/** A queue the loop awaits: events pushed while nobody waits are kept, in order. */
export class RaceInbox {
  private readonly items: RaceEvent[] = [];
  private waiter: ((e: RaceEvent) => void) | undefined;

  push(e: RaceEvent): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w(e);
    } else {
      this.items.push(e);
    }
  }

  next(): Promise<RaceEvent> {
    const e = this.items.shift();
    if (e !== undefined) return Promise.resolve(e);
    return new Promise<RaceEvent>((resolve) => {
      this.waiter = resolve;
    });
  }
}

/**
 * Input tokens an abandoned attempt may have cost: what its endpoint reported (`message_start` carries them) or,
 * when it reported nothing, the request's estimate at ~4 bytes a token.
 */
export function loserTokens(usage: Usage | undefined, bodyBytes: number): { tokens: number; estimated: boolean } {
  const reported = usage === undefined ? 0 : usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;
  if (reported > 0) return { tokens: reported, estimated: false };
  return { tokens: Math.ceil(bodyBytes / 4), estimated: true };
}
