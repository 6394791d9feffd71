-- One fixed request, repeated: the JWKS, the password and client_credentials
-- grants, introspection. Read from the environment so that no secret appears
-- on a command line:
--   BENCH_METHOD         GET (default) or POST
--   BENCH_BODY           form body (sent as application/x-www-form-urlencoded)
--   BENCH_AUTHORIZATION  value of the Authorization header
--   BENCH_STATUS_DETAIL  1: also record each failing status and its first body
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

if os.getenv("BENCH_STATUS_DETAIL") == "1" then
   response = common.count_failures
end

function done(summary, latency, requests)
   common.report(summary, latency)
end
