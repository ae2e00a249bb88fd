--[[
  Open a waiting room: move pre-queue users into the queue in the given order (the caller shuffles;
  no randomness here), each taking the next join sequence, atomically. O(users given).

  KEYS[1] loaded    (string)      present once the room is loaded; absent = nothing to open
  KEYS[2] seq       (string int)  the highest join sequence handed out
  KEYS[3] entries   (hash)        user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[4] waiting   (zset)        user by join sequence
  KEYS[5] prequeue  (zset)        user by join time

  ARGV[1..n] user ids, in queue order

  Returns one number per ARGV[i]: the sequence user i got, 0 when it was not in the pre-queue
  (not there, or named twice). An empty array when the room is not loaded.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {}
end
local seqs = {}
for i = 1, #ARGV do
  local user = ARGV[i]
  local seq = 0
  if redis.call('ZREM', KEYS[5], user) == 1 then
    local entry = redis.call('HGET', KEYS[3], user)
    if entry then
      seq = redis.call('INCR', KEYS[2])
      local status, rest = string.match(entry, '^(%a)|[^|]*|(.*)$')
      redis.call('HSET', KEYS[3], user, status .. '|' .. seq .. '|' .. rest)
      redis.call('ZADD', KEYS[4], seq, user)
    end
  end
  seqs[i] = seq
end
return seqs
