--[[
  What the reconciler compares, read atomically for one account: the balance, its `gen`, and
  how many changes are pending.

  KEYS[1] balance hash {bal, gen}
  KEYS[2] pending hash

  Reply: {balance or false, gen or false, pending count}
]]
return {
  redis.call('HGET', KEYS[1], 'bal'),
  redis.call('HGET', KEYS[1], 'gen'),
  redis.call('HLEN', KEYS[2]),
}
