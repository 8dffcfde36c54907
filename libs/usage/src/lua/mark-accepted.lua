--[[
  Remembers accepted event ids for the dedupe window, one call per marker group.

  KEYS[1..n] marker keys of one group (same hash tag), see RedisKeys.acceptedEvent
  ARGV[1]    seconds to remember them

  Reply: number of keys written
]]
for _, key in ipairs(KEYS) do
  redis.call('SET', key, '1', 'EX', ARGV[1])
end
return #KEYS
