-- Shared by every wrk script of tests/perf: numbers each thread, counts response statuses
-- (only if the including script calls count_status from response()), and at the end prints one line
-- "BENCH_JSON {...}" with the figures wrk.py reads (latencies in microseconds).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_index", #threads - 1)
end

statuses = {}

function count_status(status)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

local function json_number(x)
   if x ~= x or x == math.huge or x == -math.huge then return "null" end
   return string.format("%.3f", x)
end

function done(summary, latency, requests)
   local merged = {}
   local counted = false
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      if type(s) == "table" then
         for code, n in pairs(s) do
            merged[code] = (merged[code] or 0) + n
            counted = true
         end
      end
   end
   local parts = {}
   for code, n in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us": %d, "requests": %d, "bytes": %d, ' ..
      '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
      '"statuses": %s, "latency_us": {"min": %s, "mean": %s, "stdev": %s, "max": %s, ' ..
      '"p50": %s, "p90": %s, "p99": %s, "p99_9": %s}}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      counted and ("{" .. table.concat(parts, ", ") .. "}") or "null",
      json_number(latency.min), json_number(latency.mean), json_number(latency.stdev), json_number(latency.max),
      json_number(latency:percentile(50)), json_number(latency:percentile(90)),
      json_number(latency:percentile(99)), json_number(latency:percentile(99.9))))
end
