-- Delete expired services: each field only if it still holds the value
-- the reader saw expire (a service refreshed meanwhile is kept).
-- KEYS[1]  the services hash
-- ARGV     pairs of field, value
-- Returns the number of fields deleted.
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    n = n + redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return n
