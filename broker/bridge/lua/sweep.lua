-- sweep.lua: emit the disconnects of the sockets of dead nodes.
-- Atomic: each socket is taken from its node's hash, and its disconnect
-- (and the user's offline, when due) added, by exactly one caller even when
-- every live node sweeps at once.
-- KEYS[1] lifecycle stream, KEYS[2] nodes set, KEYS[3] users hash
-- ARGV[1] key base "<prefix>:{<tag>}" (per-node keys: base:hb:<node>,
-- base:sockets:<node>, in the same slot), ARGV[2] budget (sockets per
-- call), ARGV[3] time, ARGV[4] reason, ARGV[5] stream MAXLEN (~)
-- Returns {more (1: budget spent, call again), then 6 per event added:
-- type, namespace, sid, user, node, id}.
local base, budget, time, reason, maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local out = {0}
local function add(typ, ns, sid, user, node, id)
  redis.call("XADD", KEYS[1], "MAXLEN", "~", maxlen, "*",
    "type", typ, "namespace", ns, "sid", sid, "user", user, "room", "",
    "reason", reason, "node", node, "time", time, "id", id)
  local n = #out
  out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5], out[n + 6] = typ, ns, sid, user, node, id
end
for _, node in ipairs(redis.call("SMEMBERS", KEYS[2])) do
  if redis.call("EXISTS", base .. ":hb:" .. node) == 0 then
    local hk = base .. ":sockets:" .. node
    local cursor = "0"
    repeat
      local page = redis.call("HSCAN", hk, cursor, "COUNT", 100)
      cursor = page[1]
      local kv = page[2]
      for j = 1, #kv, 2 do
        redis.call("HDEL", hk, kv[j])
        local ok, s = pcall(cjson.decode, kv[j + 1])
        if ok and type(s) == "table" and type(s.namespace) == "string" and type(s.tag) == "string" then
          local user = s.user
          if type(user) ~= "string" then
            user = ""
          end
          add("disconnect", s.namespace, kv[j], user, node, s.tag .. ":disconnect")
          if user ~= "" then
            local ukey = string.len(s.namespace) .. ":" .. s.namespace .. ":" .. user
            if redis.call("HINCRBY", KEYS[3], ukey, -1) <= 0 then
              redis.call("HDEL", KEYS[3], ukey)
              add("offline", s.namespace, kv[j], user, node, s.tag .. ":offline")
            end
          end
        end
        budget = budget - 1
      end
    until cursor == "0" or budget <= 0
    if redis.call("HLEN", hk) == 0 then
      redis.call("SREM", KEYS[2], node)
    end
    if budget <= 0 then
      out[1] = 1
      return out
    end
  end
end
return out
