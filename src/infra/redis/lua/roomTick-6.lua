--[[
  One admission tick of a waiting room, atomically: passes past their expiry become EXPIRED (their
  slot frees), waiting entries without a heartbeat since the cutoff become EXPIRED, and the next
  candidates are named in queue order WITHOUT being moved (the caller records them, then admits).

  Work is bounded: at most ARGV[5] expiries and ARGV[5] idle drops per tick (ZRANGEBYSCORE with a
  LIMIT); what is left over is handled by the next tick. An idle entry left over is never named a
  candidate: each candidate's heartbeat is checked (O(1)) and naming stops at the first idle one,
  so a tick with more idle entries than the LIMIT may name fewer candidates, never a wrong one.
  Cost: O((expired + dropped + candidates) log n).

  KEYS[1] loaded    (string)  present once the room is loaded; absent = NOT_LOADED
  KEYS[2] entries   (hash)    user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[3] waiting   (zset)    user by join sequence
  KEYS[4] prequeue  (zset)    user by join time
  KEYS[5] active    (zset)    user by pass expiry, ms (+inf = no expiry)
  KEYS[6] beats     (zset)    user by last heartbeat, ms

  ARGV[1] now, ms since epoch: passes expiring at or before it expire
  ARGV[2] idle cutoff, ms: waiting entries whose last heartbeat is before it are dropped
  ARGV[3] concurrency cap (max admitted at once), '' = none
  ARGV[4] rate budget: at most this many candidates
  ARGV[5] at most this many expiries, and this many idle drops, per tick

  Returns {0} when NOT_LOADED, else {1, expired users, dropped users, candidate users}: expired
  oldest pass first, dropped oldest heartbeat first, candidates in queue order.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
local now = ARGV[1]
local idleBefore = tonumber(ARGV[2])
local limit = tonumber(ARGV[5])

local expired = {}
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[5], user)
  local entry = redis.call('HGET', KEYS[2], user)
  if entry then
    redis.call('HSET', KEYS[2], user, 'E' .. string.sub(entry, 2))
    expired[#expired + 1] = user
  end
end

local dropped = {}
-- The entry leaves the heartbeats; a WAITING one also leaves the queue or pre-queue and EXPIRES.
local function drop(user)
  redis.call('ZREM', KEYS[6], user)
  local entry = redis.call('HGET', KEYS[2], user)
  if entry and string.sub(entry, 1, 1) == 'W' then
    redis.call('ZREM', KEYS[3], user)
    redis.call('ZREM', KEYS[4], user)
    redis.call('HSET', KEYS[2], user, 'E' .. string.sub(entry, 2))
    dropped[#dropped + 1] = user
  end
end
local idle = redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', '(' .. ARGV[2], 'LIMIT', 0, limit)
for _, user in ipairs(idle) do
  drop(user)
end

local want = tonumber(ARGV[4])
if ARGV[3] ~= '' then
  local slots = tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[5])
  if slots < want then
    want = slots
  end
end
want = math.min(math.ceil(want), redis.call('ZCARD', KEYS[3]))

local candidates = {}
if want > 0 then
  for _, user in ipairs(redis.call('ZRANGE', KEYS[3], 0, want - 1)) do
    local beat = redis.call('ZSCORE', KEYS[6], user)
    if beat and tonumber(beat) < idleBefore then
      break
    end
    candidates[#candidates + 1] = user
  end
end

return { 1, expired, dropped, candidates }
