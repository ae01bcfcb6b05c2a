-- leave.lua: a node's clean exit.
-- KEYS[1] this node's heartbeat, KEYS[2] nodes set, KEYS[3] this node's sockets hash
-- ARGV[1] node
-- Deletes the heartbeat. When the sockets hash is empty (every disconnect
-- was written) it is forgotten too; otherwise it stays for the other nodes'
-- next sweep, which emits the missing disconnects.
-- Returns the number of sockets left for the sweep.
redis.call("DEL", KEYS[1])
local left = redis.call("HLEN", KEYS[3])
if left == 0 then
  redis.call("SREM", KEYS[2], ARGV[1])
end
return left
