-- Generic cell rate algorithm over every rate-limit rule that applies to one comment.
-- This file defines functions only; a script is this file followed by a body that
-- calls them (see RedisLimiter and the Redis store's admission script).
--
-- A comment passes only if every rule has room; a comment refused by any rule is counted
-- by none (nothing is written), so a reader who keeps retrying is not pushed further back
-- by rules they did not break.
--
-- Buckets are KEYS[first_key], KEYS[first_key + 1], ...; each stores its theoretical
-- arrival time (TAT) in microseconds. All keys of one call share a hash tag (the site),
-- so this runs unchanged on Redis Cluster. For bucket i (counting from 0), ARGV[first_arg
-- + 2i] is its emission interval T in microseconds (time to earn one comment back) and
-- ARGV[first_arg + 2i + 1] its burst.
--
-- Same arithmetic as governor (the in-process limiter): tau = T * (burst - 1); a comment
-- at `now` is refused while now < TAT - tau, and accepted ones move TAT to
-- max(TAT, now) + T. A bucket whose TAT has passed is the same as no bucket, so each key
-- expires then and nothing outlives its use.

-- "now" in microseconds: the given value, or Redis's own clock (TIME) when it is "" (the
-- one clock all replicas agree on; tests pass a value to replay a sequence exactly).
local function now_us(given)
  if given ~= '' then
    return tonumber(given)
  end
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000000 + tonumber(time[2])
end

-- Returns 0, 0 when the comment was counted in every bucket, else the bucket that needs
-- the longest wait (1-based, in call order) and that wait in microseconds, after which
-- every bucket would accept the comment.
local function count_in_buckets(first_key, buckets, first_arg, now)
  local next_tats = {}
  local refused_by, longest_wait = 0, 0
  for i = 1, buckets do
    local key = KEYS[first_key + i - 1]
    local interval = tonumber(ARGV[first_arg + 2 * (i - 1)])
    local tau = interval * (tonumber(ARGV[first_arg + 2 * (i - 1) + 1]) - 1)
    local tat = tonumber(redis.call('GET', key)) or now
    local earliest = tat - tau
    if now < earliest then
      if earliest - now > longest_wait then
        refused_by, longest_wait = i, earliest - now
      end
    else
      next_tats[i] = math.max(tat, now) + interval
    end
  end
  if refused_by > 0 then
    return refused_by, longest_wait
  end
  for i = 1, buckets do
    local ttl_ms = math.ceil((next_tats[i] - now) / 1000)
    redis.call('SET', KEYS[first_key + i - 1], string.format('%.0f', next_tats[i]), 'PX', math.max(ttl_ms, 1))
  end
  return 0, 0
end
