-- One fixed request, repeated: the JWKS, the password and client_credentials
-- grants, introspection. Read from the environment so that no secret appears
-- on a command line:
--   BENCH_METHOD         GET (default) or POST
--   BENCH_BODY           form body (sent as application/x-www-form-urlencoded)
--   BENCH_AUTHORIZATION  value of the Authorization header
--   BENCH_STATUS_DETAIL  1: also record each failing status and its first body
--   BENCH_USERS          N: replace {user} in the body by bench-0 ... bench-(N-1) in turn
--                        (logins of one account run one at a time, so a login benchmark
--                        spreads over accounts as real traffic does)
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local authorization = os.getenv("BENCH_AUTHORIZATION")
if authorization and authorization ~= "" then
   wrk.headers["Authorization"] = authorization
end

setup = common.setup

local users = tonumber(os.getenv("BENCH_USERS") or "")
if users and users > 0 and body then
   local bodies, next_body = {}, 0
   for index = 0, users - 1 do
      bodies[index] = body:gsub("{user}", "bench-" .. index)
   end
   request = function()
      next_body = (next_body + 1) % users
      return wrk.format(nil, nil, nil, bodies[next_body])
   end
end

if os.getenv("BENCH_STATUS_DETAIL") == "1" then
   response = common.count_failures
end

function done(summary, latency, requests)
   common.report(summary, latency)
end
