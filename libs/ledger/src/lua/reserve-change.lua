--[[
  Applies a balance change to Redis ahead of its Postgres commit and remembers it as pending.
  Used for usage deductions (applied delta < 0: the balance drops now, in real time) and for
  credits (applied delta 0: the credit shows only once Postgres has committed it).

  A change key is applied at most once while it is pending: a redelivered batch finds its
  pending entry and changes nothing. settle-change.lua later reconciles it with Postgres.

  KEYS[1] balance hash {bal, gen} of one account
  KEYS[2] pending hash of the same account (same hash tag)
  ARGV[1] change key (e.g. usage batch id)
  ARGV[2] applied delta in micros (integer string)
  ARGV[3] token of this attempt
  ARGV[4] balance from Postgres to seed a missing balance with, or "" to ask the caller for it

  Reply: {status, token, balance before, balance after}
    status "missing": no balance in Redis and no seed given; load it from Postgres and call again
    status "created": applied now under ARGV[3]
    status "exists":  already pending under the returned token; nothing changed
]]
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  if ARGV[4] == '' then
    return {'missing', '', '0', '0'}
  end
  redis.call('HSET', KEYS[1], 'bal', ARGV[4], 'gen', 0)
end

local pending = redis.call('HGET', KEYS[2], ARGV[1])
local before = redis.call('HGET', KEYS[1], 'bal')
if pending then
  local token = string.match(pending, ':(.*)$')
  return {'exists', token, before, before}
end

redis.call('HINCRBY', KEYS[1], 'bal', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
-- Read back as Redis's own decimal string: Lua numbers are doubles, and tostring() would print
-- a balance of 1e14 micros or more in exponent form.
return {'created', ARGV[3], before, redis.call('HGET', KEYS[1], 'bal')}
