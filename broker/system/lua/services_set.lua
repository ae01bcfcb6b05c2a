-- Record one backend-supplied service in the services hash.
-- KEYS[1]  the services hash (field: service name, value: JSON with its
--          status and expiry)
-- ARGV[1]  service name
-- ARGV[2]  value
-- ARGV[3]  time to live in milliseconds: the hash lives at least as long
-- ARGV[4]  most fields the hash may hold
-- Returns 1 when recorded, 0 when the hash is full (a new name only).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
