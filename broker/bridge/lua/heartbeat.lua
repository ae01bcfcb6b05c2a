-- heartbeat.lua: refresh this node's heartbeat.
-- KEYS[1] this node's heartbeat
-- ARGV[1] TTL ms
-- The heartbeat stores "b"; record.lua creates a missing one with "1" (NX),
-- so a heartbeat that finds anything but "b" knows the previous one expired
-- (other nodes may have swept this node's sockets) or Redis lost its data.
-- Returns 1 when the previous heartbeat was alive, else 0.
local prev = redis.call("GET", KEYS[1])
redis.call("SET", KEYS[1], "b", "PX", ARGV[1])
if prev == "b" then
  return 1
end
return 0
