/**
 * The three strategies as Redis Lua scripts: one script call is one
 * atomic check, so any number of processes share a limit exactly.
 *
 * The same math as token-bucket.ts, leaky-bucket.ts and sliding-window.ts,
 * with three differences:
 * - time is the Redis server's (`TIME`), so clients' clocks do not matter;
 * - every key carries a TTL equal to the time its state needs to be back to
 *   full, so an idle key vanishes exactly when forgetting it loses nothing;
 * - a negative cost is a refund (never refused).
 *
 * Every script takes KEYS[1] and ARGV = [cost, ...limit figures] and
 * answers {allowed 0|1, remaining, retryAfterMs (−1 = never), delayMs}.
 * Numbers are stored with %.17g: Lua's default 14 digits would round a
 * millisecond timestamp.
 */

/**
 * Commands every script starts with: Redis time in ms (µs resolution),
 * counted from 2023-11-14 (1.7e9 s) rather than 1970 so that stored times
 * are ~1e11 rather than ~1.7e12 and keep 16× finer steps (what a leaky
 * bucket's TAT, rewritten on every request, needs to avoid drift); and
 * the cost.
 */
const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = (tonumber(t[1]) - 1700000000) * 1000 + tonumber(t[2]) / 1000
local cost = tonumber(ARGV[1])
`;

/** Token bucket. ARGV: cost, tokens per ms, burst. Hash fields t (tokens), l (last). */
export const TOKEN_BUCKET_LUA = `${PRELUDE}
local perMs = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens = tonumber(s[1])
local last = tonumber(s[2])
if tokens == nil or last == nil then
  if cost < 0 then return {1, math.floor(burst + 1e-9), 0, 0} end
  tokens = burst
  last = now
elseif now > last then
  tokens = math.min(burst, tokens + (now - last) * perMs)
  last = now
end
local allowed = 0
local retry = 0
if cost < 0 then
  tokens = math.min(burst, tokens - cost)
  allowed = 1
elseif tokens + 1e-9 >= cost then
  tokens = tokens - cost
  allowed = 1
elseif cost > burst + 1e-9 then
  retry = -1
else
  retry = math.max(1, math.ceil((cost - tokens) / perMs - 1e-6))
end
if allowed == 1 then
  redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'l', string.format('%.17g', last))
  redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / perMs) + 1)
end
local remaining = 0
if tokens + 1e-9 >= 1 then remaining = math.floor(tokens + 1e-9) end
return {allowed, remaining, retry, 0}
`;

/**
 * Leaky bucket (GCRA). ARGV: cost, ms per request, room (burst · interval),
 * queue room (queueSize · interval). The value is the TAT; SET … PX sets it
 * and its expiry in one command.
 */
export const LEAKY_BUCKET_LUA = `${PRELUDE}
local interval = tonumber(ARGV[2])
local room = tonumber(ARGV[3])
local queueRoom = tonumber(ARGV[4])
local eps = interval * 1e-6
local tat = tonumber(redis.call('GET', KEYS[1]))
local level = 0
if tat then
  level = tat - now
  if level < 0 then level = 0 end
end
local allowed = 0
local retry = 0
local delay = 0
local nxt = level + cost * interval
local over = nxt - room
if cost < 0 then
  if not tat then return {1, math.floor(room / interval + 1e-6), 0, 0} end
  allowed = 1
  level = nxt
  if level < 0 then level = 0 end
elseif over <= eps then
  allowed = 1
  level = nxt
elseif over <= queueRoom + eps then
  allowed = 1
  delay = math.ceil(over - 1e-6)
  if delay < 0 then delay = 0 end
  level = nxt
elseif cost * interval > room + queueRoom + eps then
  retry = -1
else
  retry = math.max(1, math.ceil(over - queueRoom - 1e-6))
end
if allowed == 1 then
  redis.call('SET', KEYS[1], string.format('%.17g', now + level), 'PX', math.ceil(level) + 1)
end
local free = (room - level) / interval
local remaining = 0
if free > 1 - 1e-6 then remaining = math.floor(free + 1e-6) end
return {allowed, remaining, retry, delay}
`;

/** Weighted two-window counter. ARGV: cost, window ms, limit per window. Hash fields w (window index), p, c. */
export const SLIDING_WINDOW_LUA = `${PRELUDE}
local W = tonumber(ARGV[2])
local L = tonumber(ARGV[3])
local win = math.floor(now / W)
local s = redis.call('HMGET', KEYS[1], 'w', 'p', 'c')
local stored = tonumber(s[1])
local prev = tonumber(s[2]) or 0
local curr = tonumber(s[3]) or 0
if stored == nil then
  if cost < 0 then return {1, math.floor(L + 1e-9), 0, 0} end
  stored = win
  prev = 0
  curr = 0
elseif win > stored then
  if win == stored + 1 then prev = curr else prev = 0 end
  curr = 0
  stored = win
end
local f = (now - stored * W) / W
if f < 0 then f = 0 elseif f > 1 then f = 1 end
local left = L - (prev * (1 - f) + curr)
local allowed = 0
local retry = 0
if cost < 0 then
  local fromCurr = math.min(-cost, curr)
  curr = curr - fromCurr
  prev = math.max(0, prev - (-cost - fromCurr))
  left = L - (prev * (1 - f) + curr)
  allowed = 1
elseif cost <= left + 1e-9 then
  curr = curr + cost
  left = left - cost
  allowed = 1
elseif cost > L + 1e-9 then
  retry = -1
else
  local at
  if curr + cost <= L + 1e-9 then
    at = (stored + 1 - (L - curr - cost) / prev) * W
  else
    local g = 1 - (L - cost) / curr
    if g < 0 then g = 0 end
    at = (stored + 1 + g) * W
  end
  retry = math.ceil(at - now - 1e-6)
  if retry < 1 then retry = 1 end
end
if allowed == 1 then
  redis.call('HSET', KEYS[1], 'w', string.format('%.17g', stored), 'p', string.format('%.17g', prev), 'c', string.format('%.17g', curr))
  redis.call('PEXPIRE', KEYS[1], math.ceil((stored + 2) * W - now) + 1)
end
local remaining = 0
if left + 1e-9 >= 1 then remaining = math.floor(left + 1e-9) end
return {allowed, remaining, retry, 0}
`;
