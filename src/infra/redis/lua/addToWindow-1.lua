--[[
  Adds one process's count of a rate-limit window to the count every process shares, and answers
  the shared total and when the shared window ends (src/http/rate-limit-store.ts syncs each busy
  counter this way a few times a second instead of one round trip per request). The window starts
  with its first count in any process and lasts ARGV[2] ms; every process adopts its end.

  KEYS[1] counter  (string int, with an expiry)  requests counted in the window, by every process

  ARGV[1] requests this process counted since its last sync (≥ 0)
  ARGV[2] window length in ms

  Returns { total after the addition, ms until the window ends }.
]]
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
return { total, ttl }
