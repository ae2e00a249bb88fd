--[[
  Replace a schedule's seat-gate state with a snapshot read from PostgreSQL (see
  src/modules/concerts/seat-gate.ts). Pending entries are dropped: their requests still settle, and
  PostgreSQL decides them anyway.

  KEYS[1] loaded   (string)  set to '1'
  KEYS[2] seats    (hash)    rebuilt: seat number -> '<claimant>|<until ms>' or '<claimant>|sold'
  KEYS[3] holders  (hash)    rebuilt: claimant -> '<seat>:<until ms>,...' (unsold entries)

  ARGV triples, one per taken seat: seat number, claimant id, until ms or 'sold'

  Returns the number of seats loaded.
]]
redis.call('DEL', KEYS[2], KEYS[3])
local lists = {}
local n = 0
for i = 1, #ARGV - 2, 3 do
  local seat, claimant, untilMs = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HSET', KEYS[2], seat, claimant .. '|' .. untilMs)
  if untilMs ~= 'sold' then
    local l = lists[claimant]
    if not l then
      l = {}
      lists[claimant] = l
    end
    l[#l + 1] = seat .. ':' .. untilMs
  end
  n = n + 1
end
for claimant, l in pairs(lists) do
  redis.call('HSET', KEYS[3], claimant, table.concat(l, ','))
end
redis.call('SET', KEYS[1], '1')
return n
