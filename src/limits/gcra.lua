-- Generic cell rate algorithm over every rate-limit rule that applies to one comment, in
-- one round trip. The comment passes only if every rule has room; a comment refused by
-- any rule is counted by none (nothing is written), so a reader who keeps retrying is
-- not pushed further back by rules they did not break.
--
-- KEYS[i]       the bucket of rule i: the stored value is its theoretical arrival time
--               (TAT), in microseconds. All keys of one call share a hash tag (the site),
--               so this runs unchanged on Redis Cluster.
-- ARGV[1]       "now" in microseconds, or "" for Redis's own clock (TIME), the one clock
--               all replicas agree on. Tests pass a value to replay a sequence exactly.
-- ARGV[2i]      rule i's emission interval T in microseconds (time to earn one comment back)
-- ARGV[2i+1]    rule i's burst (comments allowed at once)
--
-- Same arithmetic as governor (the in-process limiter): tau = T * (burst - 1); a comment
-- at `now` is refused while now < TAT - tau, and accepted ones move TAT to
-- max(TAT, now) + T. A bucket whose TAT has passed is the same as no bucket, so each key
-- expires then and nothing outlives its use.
--
-- Returns {0, 0} when accepted, else {i, wait_us}: the rule that needs the longest wait
-- (1-based) and that wait, after which every rule would accept the comment.
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end

local next_tats = {}
local refused_by, longest_wait = 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local tau = interval * (tonumber(ARGV[2 * i + 1]) - 1)
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
  return {refused_by, longest_wait}
end

for i, key in ipairs(KEYS) do
  local ttl_ms = math.ceil((next_tats[i] - now) / 1000)
  redis.call('SET', key, string.format('%.0f', next_tats[i]), 'PX', math.max(ttl_ms, 1))
end
return {0, 0}
