-- list.lua: one page of members, ordered by user id.
-- KEYS[1] key base "{prefix}"
-- ARGV[1] ns, ARGV[2] room, ARGV[3] ZRANGEBYLEX min ("-" or "(" .. cursor),
-- ARGV[4] count to fetch (page size + 1, to learn whether more follow)
-- Returns a flat array, 5 per member: user, name, first seen ms, meta, count.
local ns, room = ARGV[1], ARGV[2]
local h = roomkey("h", ns, room)
local users = redis.call("ZRANGEBYLEX", roomkey("m", ns, room), ARGV[3], "+", "LIMIT", 0, tonumber(ARGV[4]))
local out = {}
for _, user in ipairs(users) do
  local v = redis.call("HMGET", h, "n" .. user, "f" .. user, "x" .. user, "k" .. user)
  out[#out + 1] = user
  out[#out + 1] = v[1] or ""
  out[#out + 1] = v[2] or "0"
  out[#out + 1] = v[3] or ""
  out[#out + 1] = v[4] or "0"
end
return out
