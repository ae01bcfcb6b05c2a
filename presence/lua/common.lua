-- common.lua: helpers prepended to every presence script (see redis.go).
-- KEYS[1] is always the key base "{prefix}"; every key starts with it, so all
-- keys share one Redis Cluster slot.
-- Layout (keys.go builds the same names; keep them in sync):
--   base:m:<len(ns)>:<ns>:<room>  ZSET  user ids, score 0 (lex order for paging)
--   base:h:<len(ns)>:<ns>:<room>  HASH  "c"..user.."\0"..conn -> owning node
--                                       "k"..user -> connection count
--                                       "n"..user -> name, "f"..user -> first seen (ms)
--                                       "x"..user -> meta JSON
--   base:nodes                    SET   nodes that own connections
--   base:conns:<node>             SET   refs ns.."\0"..room.."\0"..user.."\0"..conn
--   base:hb:<node>                STRING heartbeat, PX = NodeTTL - SweepInterval
-- Ids never contain NUL (validated in Go).
local base = KEYS[1]
local nodeskey = base .. ":nodes"

local function roomkey(kind, ns, room)
  return base .. ":" .. kind .. ":" .. string.len(ns) .. ":" .. ns .. ":" .. room
end

local function connskey(node)
  return base .. ":conns:" .. node
end

local function hbkey(node)
  return base .. ":hb:" .. node
end

local function mkref(ns, room, user, conn)
  return ns .. "\0" .. room .. "\0" .. user .. "\0" .. conn
end

local function splitref(s)
  local out = {}
  local i = 1
  while true do
    local j = string.find(s, "\0", i, true)
    if not j then
      out[#out + 1] = string.sub(s, i)
      return out
    end
    out[#out + 1] = string.sub(s, i, j - 1)
    i = j + 1
  end
end

-- remove drops one connection. owner, when not false, must own it.
-- Returns status, count, name, meta where status is
-- 0 unknown, 1 removed (others remain), 2 removed last, 3 kept (keeplast).
local function remove(ns, room, user, conn, keeplast, owner)
  local h = roomkey("h", ns, room)
  local cf = "c" .. user .. "\0" .. conn
  local node = redis.call("HGET", h, cf)
  local count = tonumber(redis.call("HGET", h, "k" .. user) or "0")
  if not node or (owner and node ~= owner) then
    return 0, count, "", ""
  end
  if count <= 1 and keeplast then
    return 3, 1, "", ""
  end
  redis.call("HDEL", h, cf)
  redis.call("SREM", connskey(node), mkref(ns, room, user, conn))
  if count > 1 then
    redis.call("HINCRBY", h, "k" .. user, -1)
    return 1, count - 1, "", ""
  end
  local name = redis.call("HGET", h, "n" .. user) or ""
  local meta = redis.call("HGET", h, "x" .. user) or ""
  redis.call("HDEL", h, "k" .. user, "n" .. user, "f" .. user, "x" .. user)
  redis.call("ZREM", roomkey("m", ns, room), user)
  return 2, 0, name, meta
end

