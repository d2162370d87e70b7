import type { StreamEnd } from '../protocols/contract.js';
import type { Penalty } from './policy.js';
import type { Usage } from '../protocols/messages/sse.js';

/**
 * What the proxy tells the rest of the program. Exactly one `RequestRecord` per client request, carrying its
 * attempts. Stats, health and metrics subscribe; `proxy/` never imports them.
 */

export interface AttemptRecord {
  endpointId: string;
  /** Upstream status, when one arrived. */
  status?: number;
  ms: number;
  /** Failure class (`connect`, `first-byte-timeout`, `reset`, `empty-stream`, `error-event`, …) or penalty. */
  error?: string;
  /** The cause in words, for a failure that has one (`could not reach proxy …: connection refused`). */
  message?: string;
  penalty?: Penalty | null;
  failOpen?: boolean;
  /** Started as a hedge of the attempt before it (no first content in time), not after a failure. */
  hedge?: boolean;
  /** Stopped because the other attempt of the race answered first; not a failure of its endpoint. */
  lost?: boolean;
}

/** How a hedged request's race ended. */
export type HedgeOutcome =
  | 'won' // the hedge answered first
  | 'lost' // the attempt it hedged answered first
  | 'none'; // neither answered (both failed, or the client left)

export interface HedgeRecord {
  outcome: HedgeOutcome;
  /** How long the request waited for first content before the hedge was sent. */
  afterMs: number;
  /**
   * For a hedge that won: how much longer the abandoned attempt had already waited than the winner needed for its
   * first content. The abandoned attempt had produced nothing by then, so waiting on it would have cost at least
   * this much more than the winner took.
   */
  savedMs?: number;
  /** Input tokens the abandoned attempt may have cost: as its endpoint reported them, else the request's estimate. */
  loserTokens: number;
  loserTokensEstimated: boolean;
}

export interface RequestRecord {
  requestId: string;
  /** Epoch milliseconds when the request arrived. */
  startedAt: number;
  method: string;
  path: string;
  model: string | undefined;
  stream: boolean;
  sessionId: string | undefined;
  endpointId: string | undefined;
  attempts: AttemptRecord[];
  /** Status the client received (0 when it went away first). */
  status: number;
  ttfbMs: number | undefined;
  totalMs: number;
  usage: Usage | undefined;
  /** How a committed response ended. */
  end: StreamEnd | undefined;
  /** From arrival to the first content the client received (first delta; whole answer when not streaming). */
  firstContentMs?: number | undefined;
  /** Set when a hedge was sent. */
  hedge?: HedgeRecord | undefined;
  /** The proxy's own error code, when it answered itself. */
  errorCode: string | undefined;
  /** Something worth a warning that did not change the answer (usage that could not be read, and why). */
  note?: string;
  /** Health-check traffic is marked so its tokens and cost can be counted apart. */
  healthCheck: boolean;
  /** Served by a simulated endpoint (`--demo`): it costs nothing. */
  simulated?: boolean;
  /** Who called: a client key's name or `access_keys[N]` (never the secret); absent on an open proxy. */
  clientKey?: string | undefined;
  /** Refused by the client key's own limits, before any upstream: which one. */
  keyRefusal?: 'rpm' | 'tpm' | 'budget' | 'model' | undefined;
}

export interface ProxyObserver {
  requestFinished(record: RequestRecord): void;
}
