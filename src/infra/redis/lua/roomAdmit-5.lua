--[[
  Move waiting users of a room to its active set with a pass, atomically. Only users still WAITING
  with a sequence move (one who left, was dropped or is in the pre-queue does not). O(users given).

  KEYS[1] loaded   (string)  present once the room is loaded; absent = nobody moves
  KEYS[2] entries  (hash)    user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[3] waiting  (zset)    user by join sequence
  KEYS[4] active   (zset)    user by pass expiry, ms
  KEYS[5] beats    (zset)    user by last heartbeat, ms

  ARGV[1] now, ms since epoch (the admission time)
  ARGV[2] pass expiry, ms since epoch
  ARGV[3..n] user ids

  Returns one flag per user ARGV[3..n]: 1 moved (now ADMITTED), 0 not moved. An empty array when
  the room is not loaded.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local now, expiry = ARGV[1], ARGV[2]
local moved = {}
for i = 3, #ARGV do
  local user = ARGV[i]
  local flag = 0
  local entry = redis.call('HGET', KEYS[2], user)
  if entry then
    local status, seq, joinedAt = string.match(entry, '^(%a)|([^|]*)|([^|]*)|')
    if status == 'W' and seq ~= '' then
      redis.call('ZREM', KEYS[3], user)
      redis.call('ZREM', KEYS[5], user)
      redis.call('HSET', KEYS[2], user, 'A|' .. seq .. '|' .. joinedAt .. '|' .. now .. '|' .. expiry)
      redis.call('ZADD', KEYS[4], expiry, user)
      flag = 1
    end
  end
  moved[#moved + 1] = flag
end
return moved
