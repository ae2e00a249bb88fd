--[[
  Reserve one unit of one key (a coupon, a product...) for one claimant, atomically.

  KEYS[1] remaining  (string int)  units the gate may still hand out; absent = gate not loaded
  KEYS[2] holders    (set)         claimants holding or being given a unit
  KEYS[3] pending    (zset)        claimant -> reservation time (ms), until the row is committed

  ARGV[1] claimant id
  ARGV[2] now, ms since epoch

  Returns
    1  RESERVED        remaining decremented, claimant added, pending mark written
    2  ALREADY_ISSUED  claimant already in the set; nothing changed
    3  SOLD_OUT        remaining <= 0; nothing changed
    4  NOT_LOADED      the gate has no state for this key; the caller rebuilds it from PostgreSQL
]]
local remaining = redis.call('GET', KEYS[1])
if not remaining then
  return 4
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return 2
end
if tonumber(remaining) <= 0 then
  return 3
end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
