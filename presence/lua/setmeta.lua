-- setmeta.lua: replace a member's metadata.
-- KEYS[1] key base "{prefix}"
-- ARGV[1] ns, ARGV[2] room, ARGV[3] user, ARGV[4] meta JSON ("" clears)
-- Returns {} when the user is not a member, else {name, first seen ms, count}.
local h = roomkey("h", ARGV[1], ARGV[2])
local user = ARGV[3]
local count = redis.call("HGET", h, "k" .. user)
if not count then
  return {}
end
if ARGV[4] == "" then
  redis.call("HDEL", h, "x" .. user)
else
  redis.call("HSET", h, "x" .. user, ARGV[4])
end
return {redis.call("HGET", h, "n" .. user) or "", redis.call("HGET", h, "f" .. user) or "0", tonumber(count)}
