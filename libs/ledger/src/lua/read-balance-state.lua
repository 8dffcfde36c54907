--[[
  What the reconciler compares, read atomically for one account: the balance, its `gen`, and
  the changes pending, each with what reserve applied and under which token.

  KEYS[1] balance hash {bal, gen}
  KEYS[2] pending hash: "<change key>" -> "<applied delta>:<token>", and side fields
          "<change key>|<x>" (reserve-change.lua, create-key-spend-counter.lua)

  Reply: {balance or false, gen or false, change key, entry, touched, change key, entry, ...}
    entry: "<applied delta>:<token>"; touched: "<change key>|t", when an attempt last reached
    the change (epoch ms), or "" if none did since the one that made it
]]
local reply = {redis.call('HGET', KEYS[1], 'bal'), redis.call('HGET', KEYS[1], 'gen')}
local fields = redis.call('HGETALL', KEYS[2])
for i = 1, #fields, 2 do
  local change = fields[i]
  if not string.find(change, '|', 1, true) then
    table.insert(reply, change)
    table.insert(reply, fields[i + 1])
    table.insert(reply, redis.call('HGET', KEYS[2], change .. '|t') or '')
  end
end
return reply
