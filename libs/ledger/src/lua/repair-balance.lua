--[[
  Reconciler's compare-and-set: overwrites the Redis balance with the Postgres one, but only if
  nothing is pending for the account and nothing changed since the reconciler read it. Any change
  in between moves `gen` or leaves a pending entry, and the repair is skipped until the next pass.

  KEYS[1] balance hash {bal, gen}
  KEYS[2] pending hash
  ARGV[1] gen the reconciler read
  ARGV[2] balance from Postgres in micros

  Reply: "repaired", "busy" (changes pending), "moved" (changed since read) or "missing"
]]
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  return 'missing'
end
if redis.call('HLEN', KEYS[2]) > 0 then
  return 'busy'
end
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then
  return 'moved'
end
redis.call('HSET', KEYS[1], 'bal', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return 'repaired'
