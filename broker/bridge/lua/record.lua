-- record.lua: write a batch of this node's lifecycle events.
-- KEYS[1] lifecycle stream
-- KEYS[2] this node's heartbeat   KEYS[3] nodes set
-- KEYS[4] this node's sockets hash KEYS[5] users hash
-- ARGV[1] node, ARGV[2] heartbeat TTL ms, ARGV[3] stream MAXLEN (~),
-- then 10 per event: type, namespace, sid, user, room, reason, time, id,
-- tag (the socket's incarnation), socket JSON (connect only).
-- connect: HSET the socket; when the field is new and the user's cluster
-- count goes 0 -> 1, an "online" follows. disconnect: HDEL the socket; when
-- it was there (a sweep did not take it) and the count goes to 0, an
-- "offline" follows. The disconnect itself is always added: its id is the
-- one a sweep would have used, so a consumer dedupes the two.
-- The heartbeat is created ("1", NX) so a sweeper never mistakes a node that
-- writes for a dead one before its first heartbeat.
-- Returns 2 per derived event: index of its event (0-based), type.
local node, ttl, maxlen = ARGV[1], ARGV[2], ARGV[3]
redis.call("SET", KEYS[2], "1", "PX", ttl, "NX")
local out = {}
local function add(typ, ns, sid, user, room, reason, time, id)
  redis.call("XADD", KEYS[1], "MAXLEN", "~", maxlen, "*",
    "type", typ, "namespace", ns, "sid", sid, "user", user, "room", room,
    "reason", reason, "node", node, "time", time, "id", id)
end
local registered = false
for i = 4, #ARGV, 10 do
  local typ, ns, sid, user = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local room, reason, time, id, tag = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
  local idx = (i - 4) / 10
  local ukey = string.len(ns) .. ":" .. ns .. ":" .. user
  add(typ, ns, sid, user, room, reason, time, id)
  if typ == "connect" then
    local created = redis.call("HSET", KEYS[4], sid, ARGV[i + 9])
    if not registered then
      redis.call("SADD", KEYS[3], node)
      registered = true
    end
    if created == 1 and user ~= "" and redis.call("HINCRBY", KEYS[5], ukey, 1) == 1 then
      add("online", ns, sid, user, "", "", time, tag .. ":online")
      out[#out + 1] = idx
      out[#out + 1] = "online"
    end
  elseif typ == "disconnect" then
    if redis.call("HDEL", KEYS[4], sid) == 1 and user ~= "" then
      if redis.call("HINCRBY", KEYS[5], ukey, -1) <= 0 then
        redis.call("HDEL", KEYS[5], ukey)
        add("offline", ns, sid, user, "", reason, time, tag .. ":offline")
        out[#out + 1] = idx
        out[#out + 1] = "offline"
      end
    end
  end
end
return out
