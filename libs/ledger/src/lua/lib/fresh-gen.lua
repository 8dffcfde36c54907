-- Prepended to the scripts that seed a balance (ledger-scripts.ts SCRIPTS[…].prelude).
-- The `gen` a seeded balance starts from: Redis's clock in microseconds. Every change adds 1 to
-- `gen`, far fewer than one per microsecond, so a balance rebuilt after Redis lost it never
-- starts from a `gen` the lost one had reached: a compare-and-set on `gen` read before the loss
-- (the reconciler's repair, a key-spend counter's creation) fails after it.
local function fresh_gen()
  local now = redis.call('TIME')
  return now[1] .. string.format('%06d', tonumber(now[2]))
end
