--[[
  Reserve one unit of an FCFS coupon for one user, atomically.

  KEYS[1] remaining  (string int)  units the gate may still hand out; absent = gate not loaded
  KEYS[2] users      (set)         users holding or being given the coupon
  KEYS[3] pending    (zset)        user -> reservation time (ms), until the row is committed

  ARGV[1] user id
  ARGV[2] now, ms since epoch

  Returns
    1  RESERVED        remaining decremented, user added, pending mark written
    2  ALREADY_ISSUED  user already in the set; nothing changed
    3  SOLD_OUT        remaining <= 0; nothing changed
    4  NOT_LOADED      the gate has no state for this coupon; caller rebuilds it from PostgreSQL
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
