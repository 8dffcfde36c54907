--[[
  Removes pending entries whose settle would change nothing else: each one was applied under
  the token Postgres committed it with, by exactly the amount Postgres committed, with no alert
  record and no API-key spend to add. settle-change.lua would take the applied delta back, add the
  committed one (the same) and drop the entry; this drops the entry, in one call for all of an
  account's such entries (libs/ledger DeferredSettles batches them under load).

  An entry is removed only if it still holds exactly what its reserve wrote: one since replaced
  (Redis lost it and a later attempt reserved the change again, with its own token) is left for
  that attempt's settle. Its side fields "|t" and "|k" go with it. Settling twice is harmless:
  an entry already gone (settled, or settled as an orphan by the reconciler) is skipped.

  KEYS[1] balance hash {bal, gen, ...}
  KEYS[2] pending hash of the same account (same hash tag)
  ARGV    pairs: change key, the entry as reserve-change.lua wrote it ("<applied delta>:<token>")

  Reply: the number of entries removed
]]

local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], ARGV[i], ARGV[i] .. '|t', ARGV[i] .. '|k')
    removed = removed + 1
  end
end
-- Like a settle, moves `gen`: a reconciler repair computed before this read skips (repair-balance.lua).
if removed > 0 and redis.call('HEXISTS', KEYS[1], 'bal') == 1 then
  redis.call('HINCRBY', KEYS[1], 'gen', 1)
end
return removed
