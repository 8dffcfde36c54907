--[[
  Settles a pending change against what Postgres committed for its change key.

  If the pending entry was applied under the token that Postgres recorded, the balance moves by
  (committed delta - applied delta): a usage batch whose events were partly duplicates gets the
  difference back, a credit appears. If the tokens differ, the pending entry was applied by an
  attempt that came after the commit had already been settled, so it is undone entirely.
  Without a pending entry there is nothing to do: settling twice is harmless.

  KEYS[1] balance hash {bal, gen}
  KEYS[2] pending hash
  ARGV[1] change key
  ARGV[2] token recorded by Postgres with the committed change ("" when nothing was committed)
  ARGV[3] committed delta in micros (integer string; "0" when nothing was committed)

  Reply: {settled (0 or 1), balance after}
]]
local pending = redis.call('HGET', KEYS[2], ARGV[1])
if not pending then
  return {0, redis.call('HGET', KEYS[1], 'bal') or ''}
end
redis.call('HDEL', KEYS[2], ARGV[1])

local applied, token = string.match(pending, '^(-?%d+):(.*)$')
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  return {1, ''}
end
-- Integer strings go straight to HINCRBY (64-bit in Redis); no arithmetic on Lua doubles.
local undo = string.sub(applied, 1, 1) == '-' and string.sub(applied, 2) or ('-' .. applied)
if applied ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'bal', undo)
end
if token == ARGV[2] and ARGV[3] ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'bal', ARGV[3])
end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return {1, redis.call('HGET', KEYS[1], 'bal')}
