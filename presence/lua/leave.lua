-- leave.lua: remove connections.
-- KEYS[1] key base "{prefix}"
-- ARGV[1..] groups of 5: ns, room, user, conn, keeplast ("1"/"0")
-- Returns a flat array, 4 per entry: status (0 unknown, 1 removed, 2 removed
-- last, 3 kept last), connection count, name, meta (name/meta only for 2).
local out = {}
for i = 1, #ARGV, 5 do
  local status, count, name, meta = remove(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4] == "1", false)
  out[#out + 1] = status
  out[#out + 1] = count
  out[#out + 1] = name
  out[#out + 1] = meta
end
return out
