-- rate_gcra.lua: one GCRA step (generic cell rate algorithm).
--
-- KEYS[1]  rate key (string: theoretical arrival time "TAT", integer µs)
-- ARGV[1]  now, Unix µs (the caller's clock)
-- ARGV[2]  emission interval T = window / limit, µs (>= 1)
-- ARGV[3]  limit (burst), events
-- ARGV[4]  TTL slack, ms
--
-- Returns {allowed (0|1), remaining, reset_after_us, retry_after_us}.
-- The key expires slack ms after its TAT passes, so idle keys vanish.
-- Redis expires it by its own clock while the TAT is in the callers'
-- clocks: the slack keeps it until every caller's clock is past the TAT
-- (a key that expired early would grant a fresh burst); a lingering key
-- whose TAT passed counts as absent.
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local slack = tonumber(ARGV[4])
local burst = interval * limit

local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + slack)
return {1, math.floor((now + burst - new_tat) / interval), new_tat - now, 0}
