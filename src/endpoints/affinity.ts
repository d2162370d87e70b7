/**
 * Session affinity: Claude Code sends `x-claude-code-session-id`; the requests of one session prefer the
 * endpoint that served it last, so its prompt cache stays warm. Bounded: the oldest sessions are forgotten.
 */
export class SessionAffinity {
  private readonly map = new Map<string, string>();

  constructor(private readonly capacity = 10_000) {}

  get(sessionId: string): string | undefined {
    return this.map.get(sessionId);
  }

  set(sessionId: string, endpointId: string): void {
    if (this.map.get(sessionId) === endpointId) return;
    this.map.delete(sessionId);
    this.map.set(sessionId, endpointId);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
  }

  get size(): number {
    return this.map.size;
  }
}
