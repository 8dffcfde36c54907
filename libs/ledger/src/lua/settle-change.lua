--[[
  Settles a pending change against what Postgres committed for its change key.

  If the pending entry was applied under the token that Postgres recorded, the balance moves by
  (committed delta - applied delta): a usage batch whose events were partly duplicates gets the
  difference back, a credit appears. If the tokens differ, the pending entry was applied by an
  attempt that came after the commit had already been settled, so it is undone entirely.
  Without a pending entry there is nothing to do: settling twice is harmless.
  The entry's side field "<change key>|t" (when an attempt last reached it) goes with it.

  A settled usage change also adds its spend to the account's API-key spend counters
  (KEYS[3..], amounts ARGV[4..]), exactly once: only on a token match, which happens once per
  committed change. Only counters that exist are touched; a missing one is loaded from Postgres
  by whoever reads it (libs/access), which already includes this change. A counter created from
  a Postgres read that already included this change while it was pending is named in the
  pending hash's "<change key>|k" (create-key-spend-counter.lua): it is not added to again.

  KEYS[1] balance hash {bal, gen, reloads, rl, lowoff, s:*, l:*}
  KEYS[2] pending hash
  KEYS[3..] API-key spend counters of the same account (same hash tag), optional
  ARGV[1] change key
  ARGV[2] token recorded by Postgres with the committed change ("" when nothing was committed)
  ARGV[3] committed delta in micros (integer string; "0" when nothing was committed)
  ARGV[4..#KEYS+1] spend in micros to add to KEYS[3..] (integer strings)
  ARGV[#KEYS+2..] triples: budget counter field, spend in micros Postgres committed for it,
                  "1" if the committed spend did not reach the thresholds the change crossed
                  for it (their alerts were not raised: lower its level again), else "0"

  Alerts (reserve-change.lua): the change's alert record "<change key>|x" goes with its pending
  entry. If the change is not the one Postgres counted, its budget-counter increments are undone
  and, if it disarmed the low-balance alert and nothing re-armed it since, it is armed again.
  If it is, each counter given a committed spend gets that instead of what reserve added: events
  Postgres dropped as duplicates (a gateway retry after the dedupe window) leave no spend behind,
  exactly as they leave no debit. A counter's reached level ("l:..." field, see reserve) goes back
  to what it was before the change if the change is not counted or its crossings were not
  reached ("1"); if a later change raised it further meanwhile, it goes back too (any threshold
  crossed again is raised once: alerts have dedupe keys). Levels are in micros, under "l:...";
  "lvl" entries of changes reserved by an earlier version (levels in percent, "r:...") are
  ignored, as their fields are.

  Auto-reload: if this entry's attempt crossed the threshold ("#<n>" in its token) and disarmed
  auto-reload (field `rl` still names the change key), but it is not the attempt Postgres
  recorded, auto-reload is armed again: that crossing never got a reload, so the next deduction
  below the threshold must make one (reserve-change.lua).

  Reply: {settled (0 or 1), balance after}
]]
-- less_than(a, b): lib/less-than.lua, prepended when the script is loaded.

local pending = redis.call('HGET', KEYS[2], ARGV[1])
if not pending then
  return {0, redis.call('HGET', KEYS[1], 'bal') or ''}
end
redis.call('HDEL', KEYS[2], ARGV[1], ARGV[1] .. '|t')
local loaded_with = redis.call('HGET', KEYS[2], ARGV[1] .. '|k')
if loaded_with then
  redis.call('HDEL', KEYS[2], ARGV[1] .. '|k')
  loaded_with = ' ' .. loaded_with .. ' '
end

local applied, token = string.match(pending, '^(-?%d+):(.*)$')
local counted = token == ARGV[2] and ARGV[3] ~= '0'
if token ~= ARGV[2] and string.find(token, '#', 1, true) and redis.call('HGET', KEYS[1], 'rl') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'rl', 'on:' .. (redis.call('HGET', KEYS[1], 'reloads') or '0'))
end
local alerts = redis.call('HGET', KEYS[2], ARGV[1] .. '|x')
if alerts then
  redis.call('HDEL', KEYS[2], ARGV[1] .. '|x')
  local committed_spend, unreached = {}, {}
  for i = #KEYS + 2, #ARGV - 2, 3 do
    committed_spend[ARGV[i]] = ARGV[i + 1]
    unreached[ARGV[i]] = ARGV[i + 2] == '1'
  end
  for entry in string.gmatch(alerts, '[^;]+') do
    local field, delta = string.match(entry, '^inc (%S+) (%d+)$')
    local level_of, level_before = string.match(entry, '^level (%S+) (-?%d+)$')
    local replace = field and (not counted or (committed_spend[field] or delta) ~= delta)
    if replace and redis.call('HEXISTS', KEYS[1], field) == 1 then
      -- Undo what reserve added, then add what Postgres committed (nothing if not counted).
      if delta ~= '0' then
        redis.call('HINCRBY', KEYS[1], field, '-' .. delta)
      end
      if counted then
        redis.call('HINCRBY', KEYS[1], field, committed_spend[field])
      end
    elseif level_of and (not counted or unreached[level_of]) then
      local level_field = 'l' .. string.sub(level_of, 2)
      local level = redis.call('HGET', KEYS[1], level_field)
      if level and less_than(level_before, level) then
        redis.call('HSET', KEYS[1], level_field, level_before)
      end
    elseif not counted and entry == 'disarm' and redis.call('HGET', KEYS[1], 'lowoff') == ARGV[1] then
      redis.call('HDEL', KEYS[1], 'lowoff')
    end
  end
end
if redis.call('HEXISTS', KEYS[1], 'bal') == 0 then
  return {1, ''}
end
-- Integer strings go straight to HINCRBY (64-bit in Redis); no arithmetic on Lua doubles.
local undo = string.sub(applied, 1, 1) == '-' and string.sub(applied, 2) or ('-' .. applied)
if applied ~= '0' then
  redis.call('HINCRBY', KEYS[1], 'bal', undo)
end
if counted then
  redis.call('HINCRBY', KEYS[1], 'bal', ARGV[3])
  for i = 3, #KEYS do
    local included = loaded_with and string.find(loaded_with, ' ' .. KEYS[i] .. ' ', 1, true)
    if not included and redis.call('EXISTS', KEYS[i]) == 1 then
      redis.call('INCRBY', KEYS[i], ARGV[i + 1])
    end
  end
end
redis.call('HINCRBY', KEYS[1], 'gen', 1)
return {1, redis.call('HGET', KEYS[1], 'bal')}
