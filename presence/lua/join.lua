-- join.lua: add connections.
-- KEYS[1] key base "{prefix}"
-- ARGV[1] now, ms since epoch (first-seen time of new members)
-- ARGV[2] heartbeat TTL, ms (set NX for a joining node that has none yet)
-- ARGV[3..] groups of 7: ns, room, user, name, conn, node, meta ("" = none)
-- Returns a flat array, 2 per entry: first (1/0), connection count.
local now = ARGV[1]
local ttl = ARGV[2]
local out = {}
local seen = {}
for i = 3, #ARGV, 7 do
  local ns, room, user, name, conn, node, meta =
    ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local h = roomkey("h", ns, room)
  if redis.call("HSETNX", h, "c" .. user .. "\0" .. conn, node) == 0 then
    out[#out + 1] = 0
    out[#out + 1] = tonumber(redis.call("HGET", h, "k" .. user) or "0")
  else
    local count = redis.call("HINCRBY", h, "k" .. user, 1)
    if count == 1 then
      redis.call("ZADD", roomkey("m", ns, room), 0, user)
      redis.call("HSET", h, "n" .. user, name, "f" .. user, now)
      if meta ~= "" then
        redis.call("HSET", h, "x" .. user, meta)
      end
    end
    redis.call("SADD", connskey(node), mkref(ns, room, user, conn))
    if not seen[node] then
      seen[node] = true
      redis.call("SADD", nodeskey, node)
      redis.call("SET", hbkey(node), "1", "PX", ttl, "NX")
    end
    out[#out + 1] = (count == 1) and 1 or 0
    out[#out + 1] = count
  end
end
return out
