-- POST /api/v1/bookings with a unique, non-overlapping start per request.
-- Arguments (after "--"): base_epoch step_seconds slots_per_thread clinic treatment therapist
-- Request n of thread t starts at base + (t * slots_per_thread + n) * step, so with step >= the
-- treatment's duration no two requests of the run (nor of another run with a distant base) overlap.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_report.lua")

local base, step, per_thread, clinic, treatment, therapist
local counter = 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
   base = tonumber(args[1])
   step = tonumber(args[2])
   per_thread = tonumber(args[3])
   clinic, treatment, therapist = args[4], args[5], args[6]
   counter = 0
end

function request()
   if counter >= per_thread then
      error("slot space of this thread exhausted; raise slots_per_thread")
   end
   local t = base + (thread_index * per_thread + counter) * step
   local start = os.date("!%Y-%m-%dT%H:%M:%S+00:00", t)
   local body = string.format(
      '{"clinic":"%s","treatment":"%s","therapist":"%s","start":"%s",' ..
      '"customer":{"name":"Bench %d-%d","email":"bench-%d-%d@example.com"}}',
      clinic, treatment, therapist, start, thread_index, counter, thread_index, counter)
   counter = counter + 1
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   count_status(status)
end
