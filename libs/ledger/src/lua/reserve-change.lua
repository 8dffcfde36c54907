--[[
  Applies a balance change to Redis ahead of its Postgres commit and remembers it as pending.
  Used for usage deductions (applied delta < 0: the balance drops now, in real time) and for
  credits (applied delta 0: the credit shows only once Postgres has committed it).

  A change key is applied at most once while it is pending: a redelivered batch finds its
  pending entry and changes nothing. settle-change.lua later reconciles it with Postgres.

  Auto-reload: with a threshold, a deduction that leaves the balance below it while auto-reload
  is armed is a crossing, and disarms it (field `rl` = the change key). A change that starts at or
  above the threshold arms it (`rl` = "on:<reloads>"); so does settle-change.lua when the change
  that disarmed it is not the one Postgres counted (a batch of duplicates, a late redelivery): a
  crossing undone that way is not lost, the next deduction below the threshold makes it again.
  The armed value names the crossing count it was armed at: a crossing numbered since by any
  other script (an older version during a deploy) disarms it too. Without `rl` (state from before
  the flag, or a balance rebuilt from Postgres) it is disarmed until a change starts at or above
  the threshold, which is when the older script counted crossings: no burst after a deploy.
  Deciding it here, in the same atomic step as the deduction, means concurrent batches of one
  account see exactly one crossing. Each crossing takes the next number from the `reloads`
  field, and that number is appended to the token ("<token>#<n>"): the token goes with the
  pending entry (a redelivery gets it back from "exists") and into the Postgres ledger row, so
  whichever attempt commits the change also names its crossing, exactly once.

  Spending alerts (libs/alerts), decided in the same atomic step for the same reason:
  - Budget counters: fields "s:<scope>:<YYYY-MM>" of the balance hash hold the month's spend of
    the account (or of one API key or project with a budget). A change adds its spend to each
    given counter and crosses each threshold whose amount is above the counter's reached level
    ("l:<scope>:<YYYY-MM>", in micros: the spend up to which thresholds count as reached) and
    reached by the spend after it; the level goes up to the highest amount crossed. Without a
    level (a counter just seeded, a budget just set or changed: libs/alerts drops both) it is the
    spend before the change: thresholds that spend had passed count as reached. The level is
    money, not a percent, so it keeps its meaning when the budget's amount changes, whatever
    amounts the caller's rules hold (a worker may not have reloaded a change yet): a threshold
    the spend has not reached is never behind it.
    settle-change.lua lowers the level again for a change Postgres did not count, or whose
    crossings the committed spend did not reach (the batch held events Postgres dropped as
    duplicates), so a later change crosses them. A missing counter is seeded from Postgres like
    a missing balance ("missing"). Fields "r:..." are levels in percent written by an earlier
    version: never read (they would be taken for micros), dropped with their month.
  - Low balance: a change that takes the balance below the line while armed fires and disarms
    (field `lowoff` = the change key that disarmed it). It re-arms only once a change starts at or
    above the re-arm level (line + margin), so a balance hovering at the line fires once.
  A call that finds the entry ("exists") sets field "<change key>|t" of the pending hash to the
  time (epoch ms, Redis's clock): when an attempt last reached the change.

  What a change did is kept with its pending entry in field "<change key>|x" of the pending hash
  ("inc <field> <delta>", "bud <field> <percent> <spend after>", "level <field> <level before>",
  "low <balance after>", "disarm", separated by ";"), returned again on "exists", and undone by
  settle-change.lua if the change is not the one Postgres committed. Whichever attempt commits
  the change also raises its alerts.

  KEYS[1] balance hash {bal, gen, reloads, rl, lowoff, s:*, l:*} of one account
  KEYS[2] pending hash of the same account (same hash tag)
  ARGV[1] change key (e.g. usage batch id)
  ARGV[2] applied delta in micros (integer string)
  ARGV[3] token of this attempt (must not contain '#')
  ARGV[4] balance from Postgres to seed a missing balance with, or "" to ask the caller for it
  ARGV[5] auto-reload threshold in micros (integer string), or "" (or absent) for none
  ARGV[6] with a seed: auto-reload crossings already numbered in Postgres, or "" (or absent)
  ARGV[7] low-balance line in micros, or "" (or absent) for none
  ARGV[8] low-balance re-arm level in micros (>= ARGV[7])
  ARGV[9] oldest month ("YYYY-MM") whose counters are kept; older ones are dropped when a
          counter is seeded. "" keeps all
  ARGV[10..] budget counters, 4 arguments each: field, spend delta (integer string >= 0), seed
          from Postgres or "", thresholds "<percent>=<amount>,..." (amounts in micros)

  Reply: {status, token, balance before, balance after, crossing, alert record}
    status "missing": no balance in Redis and no seed given (token "balance"), or a budget counter
      without one (token "counter"); load it from Postgres and call again
    status "created": applied now; token is ARGV[3], plus "#<crossing>" if this change crossed
    status "exists":  already pending under the returned token; nothing changed
    crossing: the crossing number (decimal string) if this call crossed the threshold, else ""
    alert record: what this change did for alerts (see above), "" for nothing; only in replies
      to calls with alert arguments (ARGV[7..]), so callers without them see the 5-element reply
]]

-- less_than(a, b), fresh_gen(): lib/less-than.lua, lib/fresh-gen.lua, prepended when the script is loaded.

local low_line = ARGV[7] or ''

local function respond(status, token, before, after, crossing, alerts)
  if ARGV[7] == nil then
    return {status, token, before, after, crossing}
  end
  return {status, token, before, after, crossing, alerts}
end

if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  if ARGV[4] == '' then
    return respond('missing', 'balance', '0', '0', '', '')
  end
  redis.call('HSET', KEYS[1], 'bal', ARGV[4], 'gen', fresh_gen())
  if ARGV[6] and ARGV[6] ~= '' then
    redis.call('HSET', KEYS[1], 'reloads', ARGV[6])
  end
  -- Rebuilt below the line: its alert was (or would have been) sent before Redis lost it.
  if low_line ~= '' and less_than(ARGV[4], low_line) then
    redis.call('HSET', KEYS[1], 'lowoff', 'seed')
  end
end

local pending = redis.call('HGET', KEYS[2], ARGV[1])
local before = redis.call('HGET', KEYS[1], 'bal')
if pending then
  -- A live attempt (a job retrying through a Postgres outage, for days) reuses the first
  -- attempt's token, whose time says when that one started: the entry's "|t" says when an
  -- attempt last reached it, so the reconciler never takes it for an orphan (settleOrphans).
  local now = redis.call('TIME')
  redis.call('HSET', KEYS[2], ARGV[1] .. '|t', now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000)))
  local token = string.match(pending, ':(.*)$')
  return respond('exists', token, before, before, '', redis.call('HGET', KEYS[2], ARGV[1] .. '|x') or '')
end

-- Budget counters: all present (or given a seed) before anything changes.
for i = 10, #ARGV, 4 do
  if ARGV[i + 2] == '' and redis.call('HEXISTS', KEYS[1], ARGV[i]) == 0 then
    return respond('missing', 'counter', '0', '0', '', '')
  end
end

redis.call('HINCRBY', KEYS[1], 'bal', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'gen', 1)
-- Read back as Redis's own decimal string: Lua numbers are doubles, and tostring() would print
-- a balance of 1e14 micros or more in exponent form.
local after = redis.call('HGET', KEYS[1], 'bal')

local token = ARGV[3]
local crossing = ''
local threshold = ARGV[5] or ''
if threshold ~= '' then
  local armed = 'on:' .. (redis.call('HGET', KEYS[1], 'reloads') or '0')
  local state = redis.call('HGET', KEYS[1], 'rl')
  if state ~= armed and not less_than(before, threshold) then
    state = armed
    redis.call('HSET', KEYS[1], 'rl', armed)
  end
  -- Only a deduction crosses: a credit (delta 0 until it settles) never needs a reload.
  if state == armed and less_than(ARGV[2], '0') and less_than(after, threshold) then
    crossing = tostring(redis.call('HINCRBY', KEYS[1], 'reloads', 1))
    token = token .. '#' .. crossing
    redis.call('HSET', KEYS[1], 'rl', ARGV[1])
  end
end

local record = {}
local keep_from = ARGV[9] or ''
for i = 10, #ARGV, 4 do
  local field, delta = ARGV[i], ARGV[i + 1]
  if redis.call('HSETNX', KEYS[1], field, ARGV[i + 2]) == 1 and keep_from ~= '' then
    -- Seeding happens once per counter and month: the moment to drop counters of old months.
    for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
      local tag = string.sub(name, 1, 2)
      if (tag == 's:' or tag == 'l:' or tag == 'r:') and string.sub(name, -7) < keep_from then
        redis.call('HDEL', KEYS[1], name)
      end
    end
  end
  local spend_before = redis.call('HGET', KEYS[1], field)
  redis.call('HINCRBY', KEYS[1], field, delta)
  local spend_after = redis.call('HGET', KEYS[1], field)
  table.insert(record, 'inc ' .. field .. ' ' .. delta)
  local level_field = 'l' .. string.sub(field, 2)
  local level = redis.call('HGET', KEYS[1], level_field) or spend_before
  local top = level
  for percent, amount in string.gmatch(ARGV[i + 3], '(%d+)=(%d+)') do
    if less_than(level, amount) and not less_than(spend_after, amount) then
      table.insert(record, 'bud ' .. field .. ' ' .. percent .. ' ' .. spend_after)
      if less_than(top, amount) then
        top = amount
      end
    end
  end
  if top ~= level then
    redis.call('HSET', KEYS[1], level_field, top)
    table.insert(record, 'level ' .. field .. ' ' .. level)
  end
end

if low_line ~= '' then
  local disarmed = redis.call('HGET', KEYS[1], 'lowoff')
  if disarmed and not less_than(before, ARGV[8]) then
    redis.call('HDEL', KEYS[1], 'lowoff')
    disarmed = false
  end
  if not disarmed and less_than(after, low_line) then
    redis.call('HSET', KEYS[1], 'lowoff', ARGV[1])
    table.insert(record, 'low ' .. after)
    table.insert(record, 'disarm')
  end
end

redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. token)
local alerts = table.concat(record, ';')
if alerts ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1] .. '|x', alerts)
end
return respond('created', token, before, after, crossing, alerts)
