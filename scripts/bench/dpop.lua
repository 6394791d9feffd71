-- The client_credentials grant with a DPoP proof (RFC 9449): every request carries
-- a fresh proof made before the run (a proof's jti is accepted once), so each
-- verifies the proof's signature and records its jti before a bound token is signed.
--
-- Environment:
--   BENCH_AUTHORIZATION  Basic credentials of the client
--   BENCH_PROOFS         file with one proof per line
--   BENCH_THREADS        wrk's -t (the proofs are dealt out among threads)
--
-- Extra fields of the result line: bound (200 with token_type DPoP), failed,
-- starved (requests sent after the thread's proofs ran out; they are 400s).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")

setup = common.setup

local proofs, next_proof = {}, 1
bound, failed, starved = 0, 0, 0

function init(args)
   local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local index = 0
   for line in io.lines(os.getenv("BENCH_PROOFS")) do
      if line ~= "" then
         if index % threads == id then proofs[#proofs + 1] = line end
         index = index + 1
      end
   end
end

function request()
   local proof = proofs[next_proof]
   next_proof = next_proof + 1
   if proof == nil then
      starved = starved + 1
      proof = "exhausted"
   end
   local headers = { ["DPoP"] = proof }
   for name, value in pairs(wrk.headers) do headers[name] = value end
   return wrk.format(nil, nil, headers, nil)
end

function response(status, headers, body)
   if status == 200 and body:find('"token_type":"DPoP"', 1, true) then
      bound = bound + 1
   else
      failed = failed + 1
      if os.getenv("BENCH_STATUS_DETAIL") == "1" then common.note_status(status, body) end
   end
end

function done(summary, latency, requests)
   common.report(summary, latency, {
      { "bound", common.sum("bound") },
      { "failed", common.sum("failed") },
      { "starved", common.sum("starved") },
   })
end
