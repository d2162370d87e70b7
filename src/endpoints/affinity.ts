/** Sessions remembered (the least recently changed are forgotten first). */
export const SESSION_CAPACITY = 10_000;

/** How long a broken stream keeps its session's next request away from the endpoint. */
const AVOID_MS = 5 * 60_000;

/**
 * Session affinity: Claude Code sends `x-claude-code-session-id`; the requests of one session prefer the
 * endpoint that served it last, so its prompt cache stays warm. Bounded: the oldest sessions are forgotten.
 */
export interface AffinityListener {
  /** A session's endpoint changed here (other replicas are told, so the session keeps it wherever it lands). */
  set(sessionId: string, endpointId: string): void;
  avoid(sessionId: string, endpointId: string, until: number): void;
}

export class SessionAffinity {
  /** Told of local changes only: `adopt*` (another replica's) never calls it back. */
  listener: AffinityListener | undefined;
  private readonly map = new Map<string, string>();
  /** Sessions whose last stream broke mid-way: the endpoint to keep their next request away from, and until when. */
  private readonly avoided = new Map<string, { endpointId: string; until: number }>();

  constructor(private readonly capacity = SESSION_CAPACITY) {}

  get(sessionId: string): string | undefined {
    return this.map.get(sessionId);
  }

  set(sessionId: string, endpointId: string): void {
    if (this.map.get(sessionId) === endpointId) return;
    this.adopt(sessionId, endpointId);
    this.listener?.set(sessionId, endpointId);
  }

  /** Another replica served this session on `endpointId`. */
  adopt(sessionId: string, endpointId: string): void {
    this.map.delete(sessionId);
    this.map.set(sessionId, endpointId);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
  }

  /**
   * The session's stream broke on `endpointId` after it had started: Claude Code sends the request again (without
   * streaming), and that retry should land elsewhere. The session forgets its endpoint, and its next request avoids
   * it, once, within `forMs`.
   */
  avoidNext(sessionId: string, endpointId: string, now: number, forMs = AVOID_MS): void {
    this.adoptAvoid(sessionId, endpointId, now + forMs);
    this.listener?.avoid(sessionId, endpointId, now + forMs);
  }

  /** Another replica's stream broke for this session (see avoidNext). */
  adoptAvoid(sessionId: string, endpointId: string, until: number): void {
    if (this.map.get(sessionId) === endpointId) this.map.delete(sessionId);
    this.avoided.delete(sessionId);
    this.avoided.set(sessionId, { endpointId, until });
    if (this.avoided.size > this.capacity) this.avoided.delete(this.avoided.keys().next().value!);
  }

  /** The endpoint this session's request should avoid, if any; consumed by the asking. */
  takeAvoided(sessionId: string, now: number): string | undefined {
    if (this.avoided.size === 0) return undefined;
    const a = this.avoided.get(sessionId);
    if (a === undefined) return undefined;
    this.avoided.delete(sessionId);
    return a.until > now ? a.endpointId : undefined;
  }

  get size(): number {
    return this.map.size;
  }
}
