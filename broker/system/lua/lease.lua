-- Acquire or renew the lease of one system event: one node emits it per
-- interval for the whole cluster.
-- KEYS[1]  the lease key
-- ARGV[1]  this node's id
-- ARGV[2]  lease time in milliseconds
-- Returns 1 when this node holds the lease (acquired or renewed), else 0.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
