-- slots_sweep.lua: reclaim the slots of nodes whose heartbeat lapsed.
--
-- KEYS[1]  node registry (set of node IDs)
-- ARGV[1]  heartbeat key prefix (prefix .. nodeID)
-- ARGV[2]  slot set prefix (prefix .. nodeID)
-- ARGV[3]  budget: most slot entries to examine in this call (>= 1)
--
-- For each registered node without a heartbeat key, removes up to the
-- budget of its slots from their hashes (only where it is still the
-- owner), and unregisters the node once its slot set is empty.
-- Returns {slots reclaimed, entries examined}; call again while
-- examined == budget.
local node_prefix, node_slots_prefix = ARGV[1], ARGV[2]
local budget = tonumber(ARGV[3])
local reclaimed, examined = 0, 0
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if examined >= budget then
    break
  end
  if redis.call('EXISTS', node_prefix .. n) == 0 then
    local set = node_slots_prefix .. n
    local members = redis.call('SRANDMEMBER', set, budget - examined)
    for _, m in ipairs(members) do
      examined = examined + 1
      local sep = string.find(m, '\n', 1, true)
      if sep then
        local h, slot = string.sub(m, 1, sep - 1), string.sub(m, sep + 1)
        if redis.call('HGET', h, slot) == n then
          redis.call('HDEL', h, slot)
          reclaimed = reclaimed + 1
        end
      end
      redis.call('SREM', set, m)
    end
    if redis.call('SCARD', set) == 0 then
      redis.call('SREM', KEYS[1], n)
    end
  end
end
return {reclaimed, examined}
