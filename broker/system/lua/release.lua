-- Release a system event's lease on shutdown, if this node holds it, so
-- another node takes the event over at its next tick.
-- KEYS[1]  the lease key
-- ARGV[1]  this node's id
-- Returns 1 when the lease was released, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
