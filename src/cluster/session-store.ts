import { SESSION_CAPACITY, type SessionAffinity } from '../endpoints/affinity.js';
import type { Logger } from '../log.js';
import { hashFields, luaScript, type RedisLink } from './redis-link.js';
import { DAY_MS } from './limit-scripts.js';

/**
 * Sessions' endpoints kept in Redis, for replicas that were not listening when they were told: a replica that
 * starts (a rolling restart, one more replica) or reconnects reads them, so a session's next request stays on its
 * endpoint (and its prompt cache) whichever replica it lands on. Live replicas learn of each change by pub/sub
 * (endpoint-sync.ts); this is the record behind it, written once per change of a session's endpoint, never per
 * request. Bounded like each replica's own map: the SESSION_CAPACITY most recently changed, for a day.
 */

/** A session id longer than this is not shared (Claude Code's are UUIDs; the header is the client's to fill). */
export const MAX_SHARED_SESSION_ID = 200;

/** KEYS: endpoints (hash: session → endpoint), recent (zset: session → changed at). ARGV: session, endpoint, capacity, ttl. */
const REMEMBER = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  for _, s in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do redis.call('HDEL', KEYS[1], s) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`);

export class SessionStore {
  private readonly endpointsKey: string;
  private readonly recentKey: string;

  constructor(
    private readonly link: RedisLink,
    private readonly logger: Logger,
  ) {
    this.endpointsKey = link.key('sessions');
    this.recentKey = link.key('sessions', 'recent');
  }

  /**
   * The session is now served by `endpointId` (written in the background; lost if Redis is away, as a message is).
   * The caller shares only ids up to MAX_SHARED_SESSION_ID long.
   */
  remember(sessionId: string, endpointId: string): void {
    if (!this.link.up) return;
    this.link
      .script(REMEMBER, [this.endpointsKey, this.recentKey], [sessionId, endpointId, String(SESSION_CAPACITY), String(DAY_MS)], 1_000)
      .catch((e: unknown) => this.logger.debug({ err: e }, 'session endpoint not written to Redis'));
  }

  /**
   * Adopt what the others recorded, oldest change first (so this replica forgets in the same order); a session
   * this replica already knows keeps what it knows (its own is as recent, or newer if it served it while away).
   */
  async load(affinity: SessionAffinity): Promise<number> {
    const [order, endpoints] = await Promise.all([
      this.link.command(['ZRANGE', this.recentKey, '0', '-1'], 2_000),
      this.link.command(['HGETALL', this.endpointsKey], 2_000).then(hashFields),
    ]);
    let adopted = 0;
    for (const session of Array.isArray(order) ? order : []) {
      if (typeof session !== 'string') continue;
      const endpointId = endpoints.get(session);
      if (endpointId === undefined || affinity.get(session) !== undefined) continue;
      affinity.adopt(session, endpointId);
      adopted++;
    }
    return adopted;
  }
}
