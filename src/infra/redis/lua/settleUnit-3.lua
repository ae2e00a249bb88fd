--[[
  Settle a reservation after the group commit answered, atomically.

  KEYS[1] remaining  (string int)
  KEYS[2] holders    (set)
  KEYS[3] pending    (zset)

  ARGV[1] claimant id
  ARGV[2] outcome:
            'ISSUED'     the row is committed: forget the pending mark
            'DUPLICATE'  PostgreSQL already had a row for this claimant: give the unit back, keep the claimant
            'SOLD_OUT'   PostgreSQL had no unit left: the gate overstated stock, so set remaining to 0
                         and forget the claimant
            'FAILED'     nothing was written: give the unit back and forget the claimant

  A settle whose pending mark is gone (already reconciled, or the gate was rebuilt since) changes
  nothing but the pending mark: the reconciler or the rebuild already accounted for it.

  Returns 1 if a pending mark was settled, 0 if there was none.
]]
local had = redis.call('ZREM', KEYS[3], ARGV[1])
if had == 0 then
  return 0
end
local outcome = ARGV[2]
if outcome == 'ISSUED' then
  return 1
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 1
end
if outcome == 'DUPLICATE' then
  redis.call('INCR', KEYS[1])
elseif outcome == 'SOLD_OUT' then
  redis.call('SET', KEYS[1], 0)
  redis.call('SREM', KEYS[2], ARGV[1])
else
  redis.call('INCR', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
