-- Plain GET of the URL given on the command line; only adds the JSON report.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "wrk_report.lua")
