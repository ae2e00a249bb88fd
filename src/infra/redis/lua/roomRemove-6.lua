--[[
  Remove a user's entry from a waiting room wherever it is (queue, pre-queue, active set), atomically.

  KEYS[1] loaded    (string)  present once the room is loaded; absent = nothing to remove
  KEYS[2] entries   (hash)    user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[3] waiting   (zset)    user by join sequence
  KEYS[4] prequeue  (zset)    user by join time
  KEYS[5] active    (zset)    user by pass expiry, ms
  KEYS[6] beats     (zset)    user by last heartbeat, ms

  ARGV[1] user id

  Returns
    {0}         no such entry (or the room is not loaded); nothing changed
    {1, entry}  removed; entry is the packed entry as it was
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
local user = ARGV[1]
local entry = redis.call('HGET', KEYS[2], user)
if not entry then
  return { 0 }
end
redis.call('ZREM', KEYS[3], user)
redis.call('ZREM', KEYS[4], user)
redis.call('ZREM', KEYS[5], user)
redis.call('ZREM', KEYS[6], user)
redis.call('HDEL', KEYS[2], user)
return { 1, entry }
