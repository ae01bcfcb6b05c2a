-- slots_restore.lua: re-register slots this node holds, ignoring limits.
--
-- KEYS[1]     this node's heartbeat key (created if missing, as acquire does)
-- KEYS[2]     this node's slot set: members "<slots hash key>\n<slotID>"
-- KEYS[3]     node registry (set of node IDs that may own slots)
-- KEYS[4..n]  slot hashes, one per restored (hash, slot) pair
-- ARGV[1]     node ID
-- ARGV[2]     node TTL, ms
-- ARGV[3..]   slot ID of KEYS[4..], same order
--
-- Used after this node's slots were lost (Redis restarted empty, or the
-- node's heartbeat lapsed and its slots were swept): the sessions are
-- live, so their slots are put back even when that takes a key over its
-- limit (new acquires are refused until it is back under). A slot owned
-- by another node is left alone (slot IDs are unique, so that is a slot
-- reclaimed and reused, not ours).
-- Returns the number of slots that were missing and were restored.
local node, ttl = ARGV[1], tonumber(ARGV[2])
if redis.call('PEXPIRE', KEYS[1], ttl) == 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ttl)
end
redis.call('SADD', KEYS[3], node)
local restored = 0
for i = 4, #KEYS do
  local slot = ARGV[i - 1]
  if redis.call('HSETNX', KEYS[i], slot, node) == 1 then
    restored = restored + 1
  end
  if redis.call('HGET', KEYS[i], slot) == node then
    redis.call('SADD', KEYS[2], KEYS[i] .. '\n' .. slot)
  end
end
return restored
