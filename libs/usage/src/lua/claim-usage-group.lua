--[[
  Claims queued usage batches for one group, all or none: each batch's group key gets the
  group's record, unless some batch already has one (an earlier attempt grouped it; its group
  must be charged again as it was). Atomic, so two workers holding the same batch (one of them
  after its lock expired) cannot both put it in a group of their own.

  KEYS[1..n] group keys of the batches (RedisKeys.usageGroupOf, one hash tag)
  ARGV[1]    the group's record "<group id>|<batch id>,<batch id>,..."
  ARGV[2]    seconds to keep the records (they are deleted once the group is settled)

  Reply: per batch, the record it already had ("" for none). All "": the claim was made.
]]
local existing, claimed = {}, true
for i, key in ipairs(KEYS) do
  existing[i] = redis.call('GET', key) or ''
  if existing[i] ~= '' then
    claimed = false
  end
end
if claimed then
  for _, key in ipairs(KEYS) do
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  end
end
return existing
