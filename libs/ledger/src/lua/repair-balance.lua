--[[
  Reconciler's compare-and-set: moves the Redis balance by the drift the reconciler found, but
  only if nothing changed since it read the balance and its pending changes. Every reserve,
  settle and repair moves `gen` (and a balance seeded anew starts from a `gen` never reached
  before, lib/fresh-gen.lua), so an unchanged `gen` means the balance and the pending entries
  are still those read, and the drift still holds; otherwise the repair is skipped until the
  next pass.

  KEYS[1] balance hash {bal, gen}
  ARGV[1] gen the reconciler read
  ARGV[2] micros to add to the balance (integer string, non-zero)

  Reply: "repaired", "moved" (changed since read) or "missing"
]]
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  return 'missing'
end
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then
  return 'moved'
end
redis.call('HINCRBY', KEYS[1], 'bal', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return 'repaired'
