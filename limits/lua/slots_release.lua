-- slots_release.lua: give one slot back in every key.
--
-- KEYS[1]     this node's slot set: members "<slots hash key>\n<slotID>"
-- KEYS[2..n]  slot hashes: field slotID -> owner node ID
-- ARGV[1]     node ID
-- ARGV[2]     slot ID
--
-- Only slots owned by ARGV[1] are removed (a slot reclaimed from this
-- node while it was presumed dead may belong to someone else by now).
-- Returns the number of slots removed.
local removed = 0
for i = 2, #KEYS do
  if redis.call('HGET', KEYS[i], ARGV[2]) == ARGV[1] then
    redis.call('HDEL', KEYS[i], ARGV[2])
    removed = removed + 1
  end
  redis.call('SREM', KEYS[1], KEYS[i] .. '\n' .. ARGV[2])
end
return removed
