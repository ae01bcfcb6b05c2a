-- slots_heartbeat.lua: prove this node is alive.
--
-- KEYS[1]  this node's heartbeat key
-- KEYS[2]  node registry (set of node IDs)
-- ARGV[1]  node ID
-- ARGV[2]  node TTL, ms
--
-- The heartbeat stores "b"; slots_acquire.lua creates a missing key with
-- "1" and otherwise only extends it. So a heartbeat that finds anything but
-- "b" knows its previous heartbeat expired or Redis lost its data (restart
-- without persistence, failover to an empty replica), even when an acquire
-- recreated the key since.
-- Returns 1 when the previous heartbeat of this node was still there, else 0.
local prev = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], 'b', 'PX', tonumber(ARGV[2]))
redis.call('SADD', KEYS[2], ARGV[1])
if prev == 'b' then
  return 1
end
return 0
