-- sweep.lua: remove connections of dead nodes (or of one node, on eviction).
-- Atomic: each connection is removed, and each "last connection" departure is
-- reported, by exactly one caller even when every live node sweeps at once.
-- KEYS[1] key base "{prefix}"
-- ARGV[1] budget: connections to remove before returning
-- ARGV[2] node to evict regardless of its heartbeat ("" = sweep dead nodes)
-- Returns {more (1 = budget exhausted, call again), then 6 per departure:
-- ns, room, user, name, meta, node}.
local budget = tonumber(ARGV[1])
local force = ARGV[2]
local nodes
if force ~= "" then
  nodes = {force}
  redis.call("DEL", hbkey(force))
else
  nodes = redis.call("SMEMBERS", nodeskey)
end
local out = {0}
for _, node in ipairs(nodes) do
  if force ~= "" or redis.call("EXISTS", hbkey(node)) == 0 then
    local ck = connskey(node)
    local refs = redis.call("SPOP", ck, budget)
    for _, ref in ipairs(refs) do
      local p = splitref(ref)
      local status, _, name, meta = remove(p[1], p[2], p[3], p[4], false, node)
      if status == 2 then
        out[#out + 1] = p[1]
        out[#out + 1] = p[2]
        out[#out + 1] = p[3]
        out[#out + 1] = name
        out[#out + 1] = meta
        out[#out + 1] = node
      end
    end
    budget = budget - #refs
    if redis.call("SCARD", ck) == 0 then
      redis.call("SREM", nodeskey, node)
    end
    if budget <= 0 then
      out[1] = 1
      return out
    end
  end
end
return out
