-- slots_acquire.lua: take one slot in every key, or in none.
--
-- KEYS[1]     this node's heartbeat key (refreshed here: acquiring proves liveness)
-- KEYS[2]     this node's slot set: members "<slots hash key>\n<slotID>"
-- KEYS[3]     node registry (set of node IDs that may own slots)
-- KEYS[4..n]  slot hashes, one per limited key: field slotID -> owner node ID
-- ARGV[1]     node ID
-- ARGV[2]     slot ID
-- ARGV[3]     node TTL, ms
-- ARGV[4]     heartbeat key prefix (prefix .. nodeID = a node's heartbeat key)
-- ARGV[5]     slot set prefix (prefix .. nodeID = a node's slot set)
-- ARGV[6..]   limit of KEYS[4..], same order
--
-- Returns {1, i, remaining, lost} when taken (remaining = fewest free
-- slots left among the keys, those of KEYS[3+i]), or {0, i, held, lost}
-- when KEYS[3+i] is full. lost is 1 when this node's heartbeat key was
-- missing (it expired, or Redis lost its data): the caller should check
-- whether its slots must be restored.
--
-- A full key is first cleaned of slots whose owner's heartbeat key has
-- expired (crashed node); only when the registry shows such a node is the
-- hash scanned. All keys share one hash tag, so this is cluster-safe.
local node, slot, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local node_prefix, node_slots_prefix = ARGV[4], ARGV[5]

-- Extend the heartbeat; create it ("1") only when missing, so the next
-- heartbeat still sees that its own value ("b") was lost.
local lost = 0
if redis.call('PEXPIRE', KEYS[1], ttl) == 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ttl)
  lost = 1
end
redis.call('SADD', KEYS[3], node)

local alive = {}
alive[node] = true
local function is_alive(owner)
  local a = alive[owner]
  if a == nil then
    a = redis.call('EXISTS', node_prefix .. owner) == 1
    alive[owner] = a
  end
  return a
end

local any_dead = nil
local function some_node_dead()
  if any_dead == nil then
    any_dead = false
    for _, n in ipairs(redis.call('SMEMBERS', KEYS[3])) do
      if not is_alive(n) then
        any_dead = true
        break
      end
    end
  end
  return any_dead
end

local remaining, tightest = -1, 1
for i = 4, #KEYS do
  local h = KEYS[i]
  local limit = tonumber(ARGV[i + 2])
  local n = redis.call('HLEN', h)
  local free
  if redis.call('HGET', h, slot) == node then
    free = limit - n
  else
    if n >= limit and some_node_dead() then
      local all = redis.call('HGETALL', h)
      for j = 1, #all, 2 do
        local owner = all[j + 1]
        if not is_alive(owner) then
          redis.call('HDEL', h, all[j])
          redis.call('SREM', node_slots_prefix .. owner, h .. '\n' .. all[j])
        end
      end
      n = redis.call('HLEN', h)
    end
    if n >= limit then
      return {0, i - 3, n, lost}
    end
    free = limit - n - 1
  end
  if remaining < 0 or free < remaining then
    remaining, tightest = free, i - 3
  end
end

for i = 4, #KEYS do
  redis.call('HSET', KEYS[i], slot, node)
  redis.call('SADD', KEYS[2], KEYS[i] .. '\n' .. slot)
end
return {1, tightest, remaining, lost}
