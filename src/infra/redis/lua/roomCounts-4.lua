--[[
  How many entries a waiting room has in each place, read at one instant.

  KEYS[1] loaded    (string)  present once the room is loaded; absent = NOT_LOADED
  KEYS[2] waiting   (zset)    waiting entries with a sequence
  KEYS[3] active    (zset)    admitted entries
  KEYS[4] prequeue  (zset)    waiting entries without a sequence

  No ARGV.

  Returns {0} when NOT_LOADED, else {1, waiting, active, prequeue}.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return { 0 }
end
return { 1, redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]) }
