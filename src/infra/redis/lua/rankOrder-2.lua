--[[
  Count one paid order into its day's best sellers, once.

  KEYS[1] day sold     (zset)  product id -> units sold that UTC day
  KEYS[2] day applied  (set)   order ids already counted into KEYS[1]

  ARGV[1] order id
  ARGV[2] time to live of both keys, seconds
  ARGV[3], ARGV[4], ...  product id, quantity pairs

  Returns 1 if the order was counted now, 0 if it had been counted before (nothing changed).
]]
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], ARGV[i + 1], ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
