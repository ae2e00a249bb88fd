--[[
  Read one user's entry in a waiting room and its place, optionally refreshing its heartbeat.
  O(log n): no loop.

  KEYS[1] loaded   (string)  present once the room is loaded; absent = NOT_LOADED
  KEYS[2] entries  (hash)    user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[3] waiting  (zset)    user by join sequence (WAITING entries with a sequence)
  KEYS[4] beats    (zset)    user by last heartbeat, ms (every WAITING entry)

  ARGV[1] user id
  ARGV[2] now, ms since epoch
  ARGV[3] '1' to record a heartbeat (WAITING entries only), anything else to only read

  Returns
    {0}                     NOT_LOADED
    {1}                     the user has no entry
    {2, entry, position}    the entry; position is the 1-based place among waiting entries with a
                            sequence, 0 when it has none
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
local user = ARGV[1]
local entry = redis.call('HGET', KEYS[2], user)
if not entry then
  return { 1 }
end
if ARGV[3] == '1' and string.sub(entry, 1, 1) == 'W' then
  redis.call('ZADD', KEYS[4], ARGV[2], user)
end
local rank = redis.call('ZRANK', KEYS[3], user)
local position = 0
if rank then
  position = rank + 1
end
return { 2, entry, position }
