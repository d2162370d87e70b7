import { luaScript } from './redis-link.js';

/**
 * The Lua scripts behind the shared client-key limits (shared-limiter.ts): each runs atomically in Redis, so an
 * admission reads a key's windows and counts itself in one step, and no two replicas take the same last place.
 * Times are Redis's own clock (`TIME`). Answers are strings (Redis truncates Lua numbers to integers).
 */

/** How long an unsettled reservation is kept: the longest a request may run (10 min non-streaming) and a margin. */
export const RESERVATION_TTL_MS = 15 * 60_000;
export const DAY_MS = 86_400_000;

/** A window entry's amount: members are "id:amount". */
const AMOUNT = `local function amount(m) return tonumber(string.match(m, ':(%d+)$')) or 0 end`;

/**
 * KEYS: requests (zset: id → admitted at), tokens (zset: "id:tokens" → settled at), reservations (zset:
 * "id:tokens" → expires at), spend (hash: day start → USD), sums (hash: settled, reserved, inflight — the running
 * totals of the two token windows, so an admission costs O(log n), not a walk over the minute).
 * ARGV: id, rpm, tpm, reservation, budget USD, budget window start, end (-1: no such limit), admissions wanted
 * as a lease (slots "id#1"…), the share of the room a lease may take (2 × replicas).
 * Returns {"ok", now, leased} or {reason, reset, now, used…} as strings (Redis truncates Lua numbers to integers).
 */
export const ADMIT = luaScript(`
${AMOUNT}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, rpm, tpm, reserve = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local budget, wstart, wend = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local want, share = tonumber(ARGV[8]) or 0, math.max(1, tonumber(ARGV[9]) or 2)
local used, settled, reserved, inflight, spent = 0, 0, 0, 0, 0
if rpm >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
  used = redis.call('ZCARD', KEYS[1])
  if used >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'rpm', tostring(tonumber(oldest[2]) + 60000), tostring(now)}
  end
end
if tpm >= 0 then
  local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
  if #gone > 0 then
    local n = 0
    for _, m in ipairs(gone) do n = n + amount(m) end
    redis.call('HINCRBY', KEYS[5], 'settled', -n)
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 60000)
  end
  local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  if #stale > 0 then
    local n = 0
    for _, m in ipairs(stale) do n = n + amount(m) end
    redis.call('HINCRBY', KEYS[5], 'reserved', -n)
    redis.call('HINCRBY', KEYS[5], 'inflight', -#stale)
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  end
  local sums = redis.call('HMGET', KEYS[5], 'settled', 'reserved', 'inflight')
  settled = math.max(0, tonumber(sums[1]) or 0)
  reserved = math.max(0, tonumber(sums[2]) or 0)
  inflight = math.max(0, tonumber(sums[3]) or 0)
  if settled + reserved >= tpm then
    local reset = now + 60000
    if inflight > 0 then reset = now + 2000 end
    local left = settled
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 999, 'WITHSCORES')
    for i = 1, #oldest, 2 do
      left = left - amount(oldest[i])
      if left + reserved < tpm then reset = tonumber(oldest[i + 1]) + 60000 break end
    end
    return {'tpm', tostring(reset), tostring(now), tostring(settled), tostring(reserved), tostring(inflight)}
  end
end
if budget >= 0 then
  local days = redis.call('HGETALL', KEYS[4])
  for i = 1, #days, 2 do
    local day = tonumber(days[i])
    if day >= wstart and day < wend then spent = spent + tonumber(days[i + 1]) end
  end
  if spent >= budget then return {'budget', tostring(wend), tostring(now), tostring(spent)} end
end
-- A lease: admissions granted now for this replica to use without asking, each counted here like this one, and
-- never more than 1/share of what is left (share = 2 x replicas), so the replicas' leases together take at most
-- half of the room, and none near the limit.
local lease = 0
if want > 0 then
  lease = want
  if rpm >= 0 then lease = math.min(lease, math.floor((rpm - used - 1) / share)) end
  if tpm >= 0 then lease = math.min(lease, math.floor((tpm - settled - reserved - reserve) / (share * math.max(1, reserve)))) end
  if budget >= 0 and spent * 2 >= budget then lease = 0 end
  lease = math.max(0, lease)
end
for i = 0, lease do
  local slot = id
  if i > 0 then slot = id .. '#' .. i end
  if rpm >= 0 then redis.call('ZADD', KEYS[1], now, slot) end
  if tpm >= 0 then redis.call('ZADD', KEYS[3], now + ${RESERVATION_TTL_MS}, slot .. ':' .. reserve) end
end
if rpm >= 0 then redis.call('PEXPIRE', KEYS[1], 60000) end
if tpm >= 0 then
  redis.call('HINCRBY', KEYS[5], 'reserved', reserve * (lease + 1))
  redis.call('HINCRBY', KEYS[5], 'inflight', lease + 1)
  redis.call('PEXPIRE', KEYS[3], ${RESERVATION_TTL_MS})
  redis.call('PEXPIRE', KEYS[5], ${RESERVATION_TTL_MS})
end
return {'ok', tostring(now), tostring(lease)}
`);

/**
 * Settlements, any number in one call (they are sent with the next admission, or after SETTLE_BATCH_MS): one
 * argument each, its fields joined by "|" (one string rather than ten: encoding arguments is most of what a call
 * costs the client): the key's base name (`PREFIX:key:NAME`), id, reservation, tokens, USD, day start, oldest day
 * kept, tpm limited ("1"/""), when it settled ("" for now; an outage's admission merged later), and "1" for a
 * leased admission given back unused (its place in the minute is freed). Names and ids never contain "|" (their
 * schemas allow letters, digits and ".:_-@/#"). The key names are built here from the base, so this script is for
 * a single Redis, not a cluster.
 */
export const SETTLE = luaScript(`
${AMOUNT}
local function fields(s)
  local out, from = {}, 1
  while true do
    local bar = string.find(s, '|', from, true)
    if not bar then out[#out + 1] = string.sub(s, from) return out end
    out[#out + 1] = string.sub(s, from, bar - 1)
    from = bar + 1
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, packed in ipairs(ARGV) do
  local f = fields(packed)
  local base, id, reserve, tokens, usd = f[1], f[2], f[3], tonumber(f[4]), tonumber(f[5])
  local day, oldest, tpm, at, release = f[6], tonumber(f[7]), f[8], tonumber(f[9]) or now, f[10]
  local sums, spend = base .. ':sums', base .. ':spend'
  if release == '1' then redis.call('ZREM', base .. ':requests', id) end
  if redis.call('ZREM', base .. ':reserved', id .. ':' .. reserve) == 1 then
    redis.call('HINCRBY', sums, 'reserved', -tonumber(reserve))
    redis.call('HINCRBY', sums, 'inflight', -1)
  end
  if tpm == '1' and tokens > 0 and at > now - 60000 then
    -- Idempotent: a member added twice (a merge retried) counts once.
    if redis.call('ZADD', base .. ':tokens', at, id .. ':' .. tokens) == 1 then redis.call('HINCRBY', sums, 'settled', tokens) end
    redis.call('PEXPIRE', base .. ':tokens', 60000)
    redis.call('PEXPIRE', sums, ${RESERVATION_TTL_MS})
  end
  if usd > 0 then
    redis.call('HINCRBYFLOAT', spend, day, f[5])
    if redis.call('HLEN', spend) > 33 then
      for _, d in ipairs(redis.call('HKEYS', spend)) do
        if tonumber(d) < oldest then redis.call('HDEL', spend, d) end
      end
    end
    redis.call('PEXPIRE', spend, ${33 * DAY_MS})
  end
end
return 1
`);

/** KEYS: requests. ARGV: id, admitted at. An outage's admission, counted in the shared minute if still in it. */
export const RECORD = luaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > now - 60000 then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], 60000)
end
return 1
`);

