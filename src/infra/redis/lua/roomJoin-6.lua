--[[
  Join a waiting room, or find the user's entry there, atomically. O(log n): no loop.

  Entries are packed "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>", status one of
  W A E D (WAITING ADMITTED EXPIRED DONE), an empty field meaning null.

  KEYS[1] loaded    (string)      present once the room is loaded; absent = NOT_LOADED
  KEYS[2] seq       (string int)  the highest join sequence handed out
  KEYS[3] entries   (hash)        user -> packed entry
  KEYS[4] waiting   (zset)        user by join sequence (WAITING entries with a sequence)
  KEYS[5] prequeue  (zset)        user by join time (WAITING entries without a sequence)
  KEYS[6] beats     (zset)        user by last heartbeat, ms (every WAITING entry)

  ARGV[1] user id
  ARGV[2] now, ms since epoch
  ARGV[3] '1' when the room is open (the entry takes the next sequence); else it joins the pre-queue

  Returns
    {0}                        NOT_LOADED; nothing changed
    {1, entry, position}       the entry was there (not EXPIRED): unchanged, but a WAITING one's heartbeat is now
    {2, entry, position}       created: a new user, or an EXPIRED entry rejoining at the back
  position is the 1-based place among waiting entries with a sequence, 0 when the entry has none.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
local user, now = ARGV[1], ARGV[2]

local function place()
  local rank = redis.call('ZRANK', KEYS[4], user)
  if rank then
    return rank + 1
  end
  return 0
end

local had = redis.call('HGET', KEYS[3], user)
if had and string.sub(had, 1, 1) ~= 'E' then
  if string.sub(had, 1, 1) == 'W' then
    redis.call('ZADD', KEYS[6], now, user)
  end
  return { 1, had, place() }
end

local seq = ''
if ARGV[3] == '1' then
  seq = redis.call('INCR', KEYS[2])
  redis.call('ZADD', KEYS[4], seq, user)
else
  redis.call('ZADD', KEYS[5], now, user)
end
redis.call('ZADD', KEYS[6], now, user)
local entry = 'W|' .. seq .. '|' .. now .. '||'
redis.call('HSET', KEYS[3], user, entry)
return { 2, entry, place() }
