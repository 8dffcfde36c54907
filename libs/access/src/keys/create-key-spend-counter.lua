--[[
  Creates a missing API-key spend counter with the spend Postgres holds, so that no batch is
  counted twice or missed (KeySpendStore.load).

  The usage worker adds a batch's key spend to existing counters when it settles the batch
  (settle-change.lua), after its Postgres commit. The spend read from Postgres already includes
  batches that committed before that read; those still pending in Redis would add it again when
  they settle. The caller read the account's pending change keys and the balance hash's `gen`
  (moved by every reserve and settle), then asked Postgres, in the statement that read the
  spend, which of those changes it had committed. Here, atomically:
  - `gen` moved since that read: a batch reserved or settled in between (one that committed
    after the spend was read and settled before this call would be lost), so nothing is
    created and the caller reads again;
  - otherwise the counter is created, and each committed change still pending is marked
    "<change key>|k" (space-separated counter keys) in the pending hash: its settle adds nothing
    to the counters named there.

  KEYS[1] the counter; KEYS[2] the account's balance hash; KEYS[3] its pending hash (one hash tag)
  ARGV[1] spend from Postgres in micros (integer string)
  ARGV[2] TTL of the counter in seconds
  ARGV[3] `gen` of the balance hash when the pending change keys were read ("" if none)
  ARGV[4..] change keys among those whose commit the spend includes

  Reply: the counter's value, or false (nil to the client) when the caller must read again
]]
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
if (redis.call('HGET', KEYS[2], 'gen') or '') ~= ARGV[3] then
  return false
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 4, #ARGV do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 1 then
    local mark = ARGV[i] .. '|k'
    local marked = redis.call('HGET', KEYS[3], mark)
    redis.call('HSET', KEYS[3], mark, marked and (marked .. ' ' .. KEYS[1]) or KEYS[1])
  end
end
return ARGV[1]
