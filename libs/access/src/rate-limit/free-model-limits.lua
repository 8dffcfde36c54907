--[[
  Admits one request on a free model if the account is under both its per-minute and per-day
  limits, and records it only then: a refused request consumes no quota, so a client that keeps
  retrying while refused recovers as soon as the window allows.

  Per minute is a sliding window over a log of admitted request times (ms); per day is a counter
  for one UTC calendar day (the day is in the key, chosen by the caller).

  KEYS[1] sorted set of admitted request times in the last minute (score = ms)
  KEYS[2] admitted-request counter of the account's current UTC day (same hash tag)
  ARGV[1] now in ms (integer)
  ARGV[2] per-minute limit (integer >= 1)
  ARGV[3] per-day limit (integer >= 1)
  ARGV[4] member for this request, unique (e.g. "<now>-<random>")
  ARGV[5] TTL of the day counter in seconds
  ARGV[6] ms from now until the next UTC midnight (the per-day retry-after)

  Reply: {allowed (1 or 0), refused by ("" | "per_minute" | "per_day"), retry after ms,
          minute count after, day count after}
]]
local window = 60000
local now = tonumber(ARGV[1])
local per_minute = tonumber(ARGV[2])
local per_day = tonumber(ARGV[3])

-- A request made at t counts while t > now - window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local minute_count = redis.call('ZCARD', KEYS[1])
local day_count = tonumber(redis.call('GET', KEYS[2]) or '0')

local minute_wait = 0
if minute_count >= per_minute then
  -- A slot frees when enough of the oldest entries age out to bring the count below the limit
  -- (more than one if the limit was lowered while the window was full).
  local freeing = redis.call('ZRANGE', KEYS[1], minute_count - per_minute, minute_count - per_minute, 'WITHSCORES')
  minute_wait = math.max(tonumber(freeing[2]) + window - now, 1)
end
local day_wait = 0
if day_count >= per_day then
  day_wait = math.max(tonumber(ARGV[6]), 1)
end

if day_wait > 0 and day_wait >= minute_wait then
  return {0, 'per_day', day_wait, minute_count, day_count}
end
if minute_wait > 0 then
  return {0, 'per_minute', minute_wait, minute_count, day_count}
end

redis.call('ZADD', KEYS[1], now, ARGV[4])
-- Every entry has aged out a window after the newest one.
redis.call('PEXPIRE', KEYS[1], window)
day_count = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return {1, '', 0, minute_count + 1, day_count}
