--[[
  Add a chunk of holders to the staging set while a gate is rebuilt from PostgreSQL.

  KEYS[1] holders staging (set)
  ARGV[1..n] claimant ids

  Returns the staging set's size.
]]
for i = 1, #ARGV, 5000 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 4999, #ARGV)))
end
redis.call('PEXPIRE', KEYS[1], 600000)
return redis.call('SCARD', KEYS[1])
