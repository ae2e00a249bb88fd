--[[
  Publish a waiting room rebuilt from PostgreSQL, atomically: the live keys are replaced by the
  staged ones (RENAME, O(1) each), the sequence is set, and the loaded flag is set last. Until this
  runs, readers see the previous state (or NOT_LOADED), never a half-loaded room.

  KEYS[1]  loaded            (string)      set to '1' by this script
  KEYS[2]  seq               (string int)  set to ARGV[1]
  KEYS[3]  entries           (hash)
  KEYS[4]  waiting           (zset)
  KEYS[5]  prequeue          (zset)
  KEYS[6]  active            (zset)
  KEYS[7]  beats             (zset)
  KEYS[8]  staging entries   (hash; absent when the snapshot had no entries)
  KEYS[9]  staging waiting   (zset; may be absent)
  KEYS[10] staging prequeue  (zset; may be absent)
  KEYS[11] staging active    (zset; may be absent)
  KEYS[12] staging beats     (zset; may be absent)

  ARGV[1] the highest join sequence handed out (the snapshot's, or its highest waiting seq if higher)

  Returns 1.
]]
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
local function publish(staging, live)
  if redis.call('EXISTS', staging) == 1 then
    redis.call('PERSIST', staging)
    redis.call('RENAME', staging, live)
  end
end
publish(KEYS[8], KEYS[3])
publish(KEYS[9], KEYS[4])
publish(KEYS[10], KEYS[5])
publish(KEYS[11], KEYS[6])
publish(KEYS[12], KEYS[7])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], '1')
return 1
