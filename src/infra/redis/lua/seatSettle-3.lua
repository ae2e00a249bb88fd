--[[
  Settle a claimant's seats in a schedule's seat gate with what PostgreSQL committed (see
  src/modules/concerts/seat-gate.ts). Idempotent.

  KEYS[1] loaded   (string)  absent = not loaded: nothing to settle
  KEYS[2] seats    (hash)    seat number -> '<claimant>|<until ms>' or '<claimant>|sold'
  KEYS[3] holders  (hash)    claimant -> '<seat>:<until ms>,...' (their unsold holds)

  ARGV[1] claimant id
  ARGV[2] outcome: 'HELD' | 'SOLD' | 'FREE'
  ARGV[3] until, ms since epoch (HELD: the holds' expiry)
  ARGV[4] now, ms since epoch (expired list entries are pruned)
  ARGV[5..] seat numbers

  Effects, per seat
    HELD  the seat becomes '<claimant>|<until>' unless it is sold (PostgreSQL gave it to this
          claimant: an entry of another claimant there is stale)
    SOLD  the seat becomes '<claimant>|sold'
    FREE  the claimant's unsold entry goes; another claimant's entry is left alone
  The holders lists follow: the claimant's is rewritten (these seats out, HELD ones back in), and a
  seat taken over from another claimant leaves that claimant's list.

  Returns 1 when the schedule is loaded, 0 when not (nothing changed).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local claimant = ARGV[1]
local outcome = ARGV[2]
local untilMs = ARGV[3]
local now = tonumber(ARGV[4])

-- Rewrites one claimant's holders list without `drop` (a set of seat strings), expired entries pruned.
local function rewrite(who, drop, add)
  local kept = {}
  local list = redis.call('HGET', KEYS[3], who)
  if list then
    for seat, u in string.gmatch(list, '(%d+):(%d+)') do
      if not drop[seat] and tonumber(u) > now then
        kept[#kept + 1] = seat .. ':' .. u
      end
    end
  end
  for _, e in ipairs(add) do
    kept[#kept + 1] = e
  end
  if #kept > 0 then
    redis.call('HSET', KEYS[3], who, table.concat(kept, ','))
  else
    redis.call('HDEL', KEYS[3], who)
  end
end

local these = {}
local added = {}
local others = {}
for i = 5, #ARGV do
  local seat = ARGV[i]
  these[seat] = true
  local v = redis.call('HGET', KEYS[2], seat)
  local owner, u = nil, nil
  if v then
    owner, u = string.match(v, '^(.*)|(%w+)$')
  end
  if u ~= 'sold' and owner and owner ~= claimant and outcome ~= 'FREE' then
    others[owner] = others[owner] or {}
    others[owner][seat] = true
  end
  if outcome == 'SOLD' then
    redis.call('HSET', KEYS[2], seat, claimant .. '|sold')
  elseif u ~= 'sold' then
    if outcome == 'HELD' then
      redis.call('HSET', KEYS[2], seat, claimant .. '|' .. untilMs)
      added[#added + 1] = seat .. ':' .. untilMs
    elseif owner == claimant then
      redis.call('HDEL', KEYS[2], seat)
    end
  end
end
rewrite(claimant, these, added)
for owner, seats in pairs(others) do
  rewrite(owner, seats, {})
end
return 1
