--[[
  Reconciler step for one key: drop pending marks that PostgreSQL has settled, then, when no
  reservation is in flight, align remaining with PostgreSQL.

  KEYS[1] remaining  (string int)
  KEYS[2] holders    (set)
  KEYS[3] pending    (zset)

  ARGV[1] remaining according to PostgreSQL, read before this call (it can only have shrunk since,
          so using it never hands out a unit that is not there... and PostgreSQL re-checks anyway)
  ARGV[2] number of committed claimant ids that follow (c)
  ARGV[3 .. 2+c]    claimants whose stale reservation IS committed: forget the pending mark
  ARGV[3+c .. end]  claimants whose stale reservation is NOT committed: give the unit back, forget the claimant

  Returns { released, confirmed, resynced (0/1) }.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0, 0, 0 }
end
local c = tonumber(ARGV[2])
local confirmed, released = 0, 0
for i = 3, 2 + c do
  confirmed = confirmed + redis.call('ZREM', KEYS[3], ARGV[i])
end
for i = 3 + c, #ARGV do
  if redis.call('ZREM', KEYS[3], ARGV[i]) == 1 then
    redis.call('SREM', KEYS[2], ARGV[i])
    redis.call('INCR', KEYS[1])
    released = released + 1
  end
end
local resynced = 0
if redis.call('ZCARD', KEYS[3]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1])
  resynced = 1
end
return { released, confirmed, resynced }
