-- heartbeat.lua: refresh a node's heartbeat.
-- KEYS[1] key base "{prefix}"
-- ARGV[1] node, ARGV[2] TTL ms
-- The heartbeat stores "b". join.lua creates a missing heartbeat with "1"
-- (NX), so a heartbeat that finds anything but "b" knows its previous one
-- expired or Redis lost its data, even if a join recreated the key since.
-- Returns 1 when this node's previous heartbeat was still alive, else 0.
local k = hbkey(ARGV[1])
local prev = redis.call("GET", k)
redis.call("SET", k, "b", "PX", ARGV[2])
if prev == "b" then
  return 1
end
return 0
