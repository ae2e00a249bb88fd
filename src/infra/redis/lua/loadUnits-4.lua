--[[
  Publish a gate rebuilt from PostgreSQL, atomically: the staged holders become the holders set,
  remaining is set, and stale pending marks are dropped (their requests settle against PostgreSQL,
  which is exact on its own).

  KEYS[1] remaining      (string int)
  KEYS[2] holders        (set)
  KEYS[3] pending        (zset)
  KEYS[4] holders staging (set; may be absent when nobody holds a unit yet)

  ARGV[1] remaining units according to PostgreSQL (quantity - issued_count)

  Returns 1.
]]
redis.call('DEL', KEYS[2], KEYS[3])
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('PERSIST', KEYS[4])
  redis.call('RENAME', KEYS[4], KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
