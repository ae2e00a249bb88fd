--[[
  Add a chunk of entries to the staging keys of one load of a waiting room (rebuilt from
  PostgreSQL); roomLoad-12.lua later renames them over the live keys in one step. Staging keys
  expire after 10 minutes, so an abandoned load leaves nothing behind.

  KEYS[1] staging entries   (hash)  user -> packed entry "<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>"
  KEYS[2] staging waiting   (zset)  user by join sequence (WAITING entries with a sequence)
  KEYS[3] staging prequeue  (zset)  user by join time (WAITING entries without a sequence)
  KEYS[4] staging active    (zset)  user by pass expiry, ms, +inf when none (ADMITTED entries)
  KEYS[5] staging beats     (zset)  user by last heartbeat (every WAITING entry, at ARGV[1])

  ARGV[1] now, ms since epoch: the heartbeat every waiting entry restarts with
  ARGV[2..] six fields per entry: user id, status (W A E D), seq, joinedAt, admittedAt,
            passExpiresAt ('' = null); an incomplete trailing group is ignored

  Returns the number of entries staged so far (HLEN of the staging entries).
]]
local now = ARGV[1]
local buffers = {}
local function add(key, a, b)
  local buf = buffers[key]
  if not buf then
    buf = {}
    buffers[key] = buf
  end
  buf[#buf + 1] = a
  buf[#buf + 1] = b
end
local function flush(command, key)
  local buf = buffers[key]
  if buf then
    for i = 1, #buf, 2000 do
      redis.call(command, key, unpack(buf, i, math.min(i + 1999, #buf)))
    end
  end
end

for i = 2, #ARGV - 5, 6 do
  local user, status, seq, joinedAt, admittedAt, expiry =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  add(KEYS[1], user, status .. '|' .. seq .. '|' .. joinedAt .. '|' .. admittedAt .. '|' .. expiry)
  if status == 'W' then
    add(KEYS[5], now, user)
    if seq == '' then
      add(KEYS[3], joinedAt, user)
    else
      add(KEYS[2], seq, user)
    end
  elseif status == 'A' then
    if expiry == '' then
      expiry = '+inf'
    end
    add(KEYS[4], expiry, user)
  end
end

flush('HSET', KEYS[1])
flush('ZADD', KEYS[2])
flush('ZADD', KEYS[3])
flush('ZADD', KEYS[4])
flush('ZADD', KEYS[5])
for _, key in ipairs({ KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5] }) do
  redis.call('PEXPIRE', key, 600000)
end
return redis.call('HLEN', KEYS[1])
