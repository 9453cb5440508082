-- POST /api/v1/holds with a unique, non-overlapping, bookable start per request.
-- Arguments (after "--"): first_epoch step_seconds days offset per_thread clinic treatment therapist_ids
-- (therapist_ids comma-separated). Request n of thread t has the global index
-- g = offset + t * per_thread + n, and goes to therapist g % T on day (g // T) % days, slot
-- (g // T) // days of that day: start = first + day * 86400 + slot * step. hold_grid.py's HoldGrid does
-- the same mapping and checks that every start is on the clinic's grid, inside the bench therapists'
-- hours and the horizon, and step apart (no overlap); section_holds.py gives every run a disjoint
-- block of indices.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_report.lua")

local first, step, days, offset, per_thread, clinic, treatment
local therapists = {}
local counter = 0
local headers = {["Content-Type"] = "application/json"}

function init(args)
   first = tonumber(args[1])
   step = tonumber(args[2])
   days = tonumber(args[3])
   offset = tonumber(args[4])
   per_thread = tonumber(args[5])
   clinic, treatment = args[6], args[7]
   therapists = {}
   for id in string.gmatch(args[8], "[^,]+") do
      table.insert(therapists, id)
   end
   counter = 0
end

function request()
   if counter >= per_thread then
      error("slot space of this thread exhausted; raise the block size")
   end
   local g = offset + thread_index * per_thread + counter
   local n = #therapists
   local therapist = therapists[(g % n) + 1]
   local r = math.floor(g / n)
   local day = r % days
   local slot = math.floor(r / days)
   local t = first + day * 86400 + slot * step
   local start = os.date("!%Y-%m-%dT%H:%M:%S+00:00", t)
   local body = string.format('{"clinic":"%s","treatment":"%s","therapist":"%s","start":"%s"}',
                              clinic, treatment, therapist, start)
   counter = counter + 1
   return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
   count_status(status)
end
