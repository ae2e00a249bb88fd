--[[
  An admitted user completed the purchase: the entry becomes DONE and its slot frees, atomically.

  KEYS[1] loaded   (string)  present once the room is loaded
  KEYS[2] entries  (hash)    user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[3] active   (zset)    user by pass expiry, ms

  ARGV[1] user id

  Returns 1 when the entry was ADMITTED and is now DONE, 0 otherwise (nothing changed).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local user = ARGV[1]
local entry = redis.call('HGET', KEYS[2], user)
if not entry or string.sub(entry, 1, 1) ~= 'A' then
  return 0
end
redis.call('HSET', KEYS[2], user, 'D' .. string.sub(entry, 2))
redis.call('ZREM', KEYS[3], user)
return 1
