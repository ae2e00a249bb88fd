--[[
  Check numbered seats of one schedule for one claimant against what PostgreSQL has committed (the
  seat gate; src/modules/concerts/seat-gate.ts has the contract). Reads only.

  KEYS[1] loaded   (string)  present once the schedule's gate is loaded; absent = NOT_LOADED
  KEYS[2] seats    (hash)    seat number -> '<claimant>|<until ms>' or '<claimant>|sold'
  KEYS[3] holders  (hash)    claimant -> '<seat>:<until ms>,...' (their unsold holds)

  ARGV[1] claimant id
  ARGV[2] now, ms since epoch
  ARGV[3] limit: most live unsold holds one claimant may have
  ARGV[4..] seat numbers (distinct)

  Returns
    {0}            CLEAR             nothing committed stands in the way: the commit decides
    {2}            HOLD_LIMIT        live holds of the claimant + these seats > limit
                                     (checked first, as PostgreSQL's hold_seats_batch does)
    {1, seat...}   SEAT_UNAVAILABLE  these seats are sold or held (until > now)
    {3}            NOT_LOADED        no state for this schedule
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {3}
end
local now = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])

local live = 0
local list = redis.call('HGET', KEYS[3], ARGV[1])
if list then
  for _, untilMs in string.gmatch(list, '(%d+):(%d+)') do
    if tonumber(untilMs) > now then
      live = live + 1
    end
  end
end
if live + (#ARGV - 3) > limit then
  return {2}
end
local result = {1}
for i = 4, #ARGV do
  local v = redis.call('HGET', KEYS[2], ARGV[i])
  if v then
    local untilMs = string.match(v, '|(%w+)$')
    if untilMs == 'sold' or tonumber(untilMs) > now then
      result[#result + 1] = tonumber(ARGV[i])
    end
  end
end
if #result > 1 then
  return result
end
return {0}
