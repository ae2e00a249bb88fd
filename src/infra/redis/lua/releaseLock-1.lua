--[[
  Release a lock only if this holder still owns it (a lock that expired and was taken by another
  process is left alone).

  KEYS[1] lock  (string)  the holder's token, with an expiry

  ARGV[1] the token this holder wrote when it took the lock

  Returns 1 if the lock was released, 0 if it was not (or no longer) ours.
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
