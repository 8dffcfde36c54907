-- Prepended to the scripts that compare money (ledger-scripts.ts SCRIPTS[…].prelude).
-- a < b for canonical integer strings (as Redis prints them): compared as text, never as Lua
-- doubles, so balances beyond 2^53 micros compare exactly.
local function less_than(a, b)
  local a_negative = string.sub(a, 1, 1) == '-'
  local b_negative = string.sub(b, 1, 1) == '-'
  if a_negative ~= b_negative then
    return a_negative
  end
  local a_digits = a_negative and string.sub(a, 2) or a
  local b_digits = b_negative and string.sub(b, 2) or b
  if a_digits == b_digits then
    return false
  end
  local smaller_magnitude
  if #a_digits ~= #b_digits then
    smaller_magnitude = #a_digits < #b_digits
  else
    smaller_magnitude = a_digits < b_digits
  end
  if a_negative then
    return not smaller_magnitude
  end
  return smaller_magnitude
end
