-- rate_window.lua: one sliding-window counter step.
--
-- KEYS[1]  window key, a hash:
--            "<end>"  events admitted in the bucket [end - b, end), for
--                     each bucket end (Unix µs, decimal) on the grid of
--                     width b, from o to e (buckets with no event absent)
--            "b"      the bucket width the fields follow, µs
--            "n"      the sum of the bucket fields
--            "o", "e" the oldest and newest bucket end that may be stored
-- ARGV[1]  now, Unix µs; negative means the Redis server's clock (TIME),
--          which is what production uses so that every node shares one
--          clock
-- ARGV[2]  window, µs (>= 1)
-- ARGV[3]  bucket width, µs (>= 1)
-- ARGV[4]  limit, events (>= 1)
-- ARGV[5]  TTL slack, ms, added to the key's expiry: 0 with the server's
--          clock; positive when ARGV[1] comes from a caller whose clock
--          need not run with the server's (tests on a fake clock)
--
-- Counts the buckets that end after now - window (every bucket holding
-- an event younger than the window, plus at most one bucket of older
-- ones), admits when their sum is under the limit and adds the event to
-- the bucket holding now. Buckets that left the window are deleted
-- first, stepping from o, so a call reads the running sum n instead of
-- every bucket; the hash holds at most window/b + 2 buckets. The key
-- expires when its newest bucket leaves the window.
--
-- Returns {allowed (0|1), remaining, reset_after_us, retry_after_us}.
local now = tonumber(ARGV[1])
if now < 0 then
  -- Redis < 5 replicates scripts verbatim and then forbids writes after
  -- TIME; effects replication (the default since 5, the only mode in 7)
  -- makes it safe.
  if redis.replicate_commands then
    redis.replicate_commands()
  end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local window = tonumber(ARGV[2])
local b = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local slack = tonumber(ARGV[5])
local key = KEYS[1]
local oldest = now - window -- buckets ending at or before it are out

local function f(x)
  return string.format('%d', x)
end

local m = redis.call('HMGET', key, 'b', 'n', 'o', 'e')
local kb, n, o, e = tonumber(m[1]), tonumber(m[2]) or 0, tonumber(m[3]), tonumber(m[4])
if kb == nil or o == nil or e == nil or e <= oldest then
  -- New key, or every bucket left the window.
  if m[1] or m[2] or m[3] or m[4] then
    redis.call('DEL', key)
  end
  n, o, e = 0, nil, nil
elseif kb ~= b then
  -- The key's window (so its grid) changed: fold every bucket into one
  -- on the new grid ending at or after the newest, so no event is
  -- counted for less time than it was.
  local fold = math.ceil(e / b) * b
  redis.call('DEL', key)
  redis.call('HSET', key, f(fold), n, 'b', b, 'n', n, 'o', fold, 'e', fold)
  redis.call('PEXPIRE', key, math.ceil((fold + window - now) / 1000) + slack)
  o, e = fold, fold
elseif o <= oldest then
  -- Delete the buckets that left the window, oldest first. e > oldest
  -- and both lie on the grid, so the walk stops at or before e.
  local stale = {}
  local x = o
  while x <= oldest do
    stale[#stale + 1] = f(x)
    x = x + b
  end
  for _, v in ipairs(redis.call('HMGET', key, unpack(stale))) do
    n = n - (tonumber(v) or 0)
  end
  redis.call('HDEL', key, unpack(stale))
  o = x
  redis.call('HSET', key, 'n', n, 'o', o)
end

if n >= limit then
  -- Refused: one more fits once enough of the oldest buckets are out.
  local ends = {}
  local x = o
  while x <= e do
    ends[#ends + 1] = f(x)
    x = x + b
  end
  local left = n
  local retry_at = e + window
  for i, v in ipairs(redis.call('HMGET', key, unpack(ends))) do
    left = left - (tonumber(v) or 0)
    if left < limit then
      retry_at = o + (i - 1) * b + window
      break
    end
  end
  return {0, 0, e + window - now, retry_at - now}
end

-- The bucket holding now; if a newer one exists (the clock stepped
-- back), count the event there, which keeps it in the window longer.
local cur = (math.floor(now / b) + 1) * b
if e == nil then
  redis.call('HSET', key, f(cur), 1, 'b', b, 'n', 1, 'o', cur, 'e', cur)
elseif cur > e then
  redis.call('HSET', key, f(cur), 1, 'n', n + 1, 'e', cur)
else
  cur = e
  redis.call('HINCRBY', key, f(cur), 1)
  redis.call('HSET', key, 'n', n + 1)
end
if e == nil or cur > e then
  redis.call('PEXPIRE', key, math.ceil((cur + window - now) / 1000) + slack)
end
return {1, limit - n - 1, cur + window - now, 0}
