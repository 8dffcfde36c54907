--[[
  Makes an auto-reload crossing without a deduction, for an account whose last reload failed (a
  decline, authentication required, or skipped: paused, no card, over the cap) once the cause is
  fixed (a new default card, settings changed) while the balance is still below the threshold.
  Usage alone would never cross again: every deduction starts below the threshold, disarmed.

  It crosses only if the balance is below the threshold and either auto-reload is armed (the next
  deduction would cross anyway) or no crossing was numbered since the failed one (ARGV[4] equals
  `reloads`): a crossing made since, by usage or by another retry, has its own reload. The
  decision and its number are taken atomically with every deduction of the account, so a retry
  racing usage, or repeated, makes at most one crossing. Like a reserve, it leaves a pending entry
  "0:<token>#<n>" under the change key: the caller records the token in Postgres and settles it
  (settle-change.lua arms auto-reload again if it is not the one Postgres recorded).

  KEYS[1] balance hash {bal, gen, reloads, rl, ...} of one account
  KEYS[2] pending hash of the same account (same hash tag)
  ARGV[1] change key (names the retry: the crossing it retries)
  ARGV[2] token of this attempt (must not contain '#')
  ARGV[3] auto-reload threshold in micros (integer string)
  ARGV[4] the crossing whose reload failed, or "" for none to retry
  ARGV[5] balance from Postgres to seed a missing balance with, or "" to ask the caller for it
  ARGV[6] with a seed: auto-reload crossings already numbered in Postgres

  Reply: {status, token, balance, crossing}
    "missing": no balance in Redis and no seed given; "exists": a pending entry for the change
    key (its token); "created": crossed now (token "<ARGV[2]>#<crossing>"); "none": no crossing
]]
-- less_than(a, b), fresh_gen(): lib/less-than.lua, lib/fresh-gen.lua, prepended when the script is loaded.

if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  if ARGV[5] == '' then
    return {'missing', '', '0', ''}
  end
  redis.call('HSET', KEYS[1], 'bal', ARGV[5], 'gen', fresh_gen())
  if ARGV[6] ~= '' then
    redis.call('HSET', KEYS[1], 'reloads', ARGV[6])
  end
end

local balance = redis.call('HGET', KEYS[1], 'bal')
local pending = redis.call('HGET', KEYS[2], ARGV[1])
if pending then
  return {'exists', string.match(pending, ':(.*)$'), balance, ''}
end

local reloads = redis.call('HGET', KEYS[1], 'reloads') or '0'
local armed = redis.call('HGET', KEYS[1], 'rl') == 'on:' .. reloads
if not less_than(balance, ARGV[3]) or not (armed or reloads == ARGV[4]) then
  return {'none', '', balance, ''}
end
local crossing = tostring(redis.call('HINCRBY', KEYS[1], 'reloads', 1))
local token = ARGV[2] .. '#' .. crossing
redis.call('HSET', KEYS[1], 'rl', ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], '0:' .. token)
-- Like every change: `gen` moves whenever the pending entries do (repair-balance.lua).
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return {'created', token, balance, crossing}
