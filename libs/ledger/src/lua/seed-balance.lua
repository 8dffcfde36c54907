--[[
  Loads an account's balance from Postgres into Redis if Redis has none (first use, or Redis
  restarted empty). Never overwrites: a balance already there may include changes pending in
  Redis that the Postgres figure does not show yet.

  KEYS[1] balance hash {bal, gen}
  ARGV[1] balance from Postgres in micros
  ARGV[2] auto-reload crossings already numbered in Postgres, or "" (or absent)

  Reply: the balance now in Redis (string)
]]
-- fresh_gen(): lib/fresh-gen.lua, prepended when the script is loaded.

if redis.call('HSETNX', KEYS[1], 'bal', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'gen', fresh_gen())
  if ARGV[2] and ARGV[2] ~= '' then
    redis.call('HSET', KEYS[1], 'reloads', ARGV[2])
  end
end
return redis.call('HGET', KEYS[1], 'bal')
