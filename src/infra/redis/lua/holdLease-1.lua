--[[
  Take a lease, or renew it if this holder already has it.

  KEYS[1] lease  (string)  the holder's token, with an expiry

  ARGV[1] this holder's token
  ARGV[2] lease length, ms

  Returns 1 if this holder holds the lease now (taken or renewed), 0 if another holder has it.
]]
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
