--[[
  Applies a balance change to Redis ahead of its Postgres commit and remembers it as pending.
  Used for usage deductions (applied delta < 0: the balance drops now, in real time) and for
  credits (applied delta 0: the credit shows only once Postgres has committed it).

  A change key is applied at most once while it is pending: a redelivered batch finds its
  pending entry and changes nothing. settle-change.lua later reconciles it with Postgres.

  Auto-reload: with a threshold, a change that moves the balance from >= threshold to below it
  is a crossing. Deciding it here, in the same atomic step as the deduction, means concurrent
  batches of one account see exactly one crossing. Each crossing takes the next number from the
  `reloads` field, and that number is appended to the token ("<token>#<n>"): the token goes
  with the pending entry (a redelivery gets it back from "exists") and into the Postgres ledger
  row, so whichever attempt commits the change also names its crossing, exactly once.

  KEYS[1] balance hash {bal, gen, reloads} of one account
  KEYS[2] pending hash of the same account (same hash tag)
  ARGV[1] change key (e.g. usage batch id)
  ARGV[2] applied delta in micros (integer string)
  ARGV[3] token of this attempt (must not contain '#')
  ARGV[4] balance from Postgres to seed a missing balance with, or "" to ask the caller for it
  ARGV[5] auto-reload threshold in micros (integer string), or "" (or absent) for none
  ARGV[6] with a seed: auto-reload crossings already numbered in Postgres, or "" (or absent)

  Reply: {status, token, balance before, balance after, crossing}
    status "missing": no balance in Redis and no seed given; load it from Postgres and call again
    status "created": applied now; token is ARGV[3], plus "#<crossing>" if this change crossed
    status "exists":  already pending under the returned token; nothing changed
    crossing: the crossing number (decimal string) if this call crossed the threshold, else ""
]]

-- a < b for canonical integer strings (as Redis prints them): compared as text, never as Lua
-- doubles, so balances beyond 2^53 micros compare exactly.
local function less_than(a, b)
  local a_negative = string.sub(a, 1, 1) == '-'
  local b_negative = string.sub(b, 1, 1) == '-'
  if a_negative ~= b_negative then
    return a_negative
  end
  local a_digits = a_negative and string.sub(a, 2) or a
  local b_digits = b_negative and string.sub(b, 2) or b
  if a_digits == b_digits then
    return false
  end
  local smaller_magnitude
  if #a_digits ~= #b_digits then
    smaller_magnitude = #a_digits < #b_digits
  else
    smaller_magnitude = a_digits < b_digits
  end
  if a_negative then
    return not smaller_magnitude
  end
  return smaller_magnitude
end

if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  if ARGV[4] == '' then
    return {'missing', '', '0', '0', ''}
  end
  redis.call('HSET', KEYS[1], 'bal', ARGV[4], 'gen', 0)
  if ARGV[6] and ARGV[6] ~= '' then
    redis.call('HSET', KEYS[1], 'reloads', ARGV[6])
  end
end

local pending = redis.call('HGET', KEYS[2], ARGV[1])
local before = redis.call('HGET', KEYS[1], 'bal')
if pending then
  local token = string.match(pending, ':(.*)$')
  return {'exists', token, before, before, ''}
end

redis.call('HINCRBY', KEYS[1], 'bal', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
-- Read back as Redis's own decimal string: Lua numbers are doubles, and tostring() would print
-- a balance of 1e14 micros or more in exponent form.
local after = redis.call('HGET', KEYS[1], 'bal')

local token = ARGV[3]
local crossing = ''
local threshold = ARGV[5] or ''
if threshold ~= '' and not less_than(before, threshold) and less_than(after, threshold) then
  crossing = tostring(redis.call('HINCRBY', KEYS[1], 'reloads', 1))
  token = token .. '#' .. crossing
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. token)
return {'created', token, before, after, crossing}
