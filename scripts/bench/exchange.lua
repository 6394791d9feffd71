-- The code exchange (grant_type=authorization_code with PKCE): every request
-- spends one fresh code made by the authorize scenario, so each verifies the
-- PKCE verifier, consumes the code, starts a refresh family and signs an access
-- token and an RS256 ID token.
--
-- Environment:
--   BENCH_AUTHORIZATION  Basic credentials of the client
--   BENCH_CODES          file with one code per line
--   BENCH_REDIRECT_URI   the redirect URI the codes were issued for
--   BENCH_VERIFIER       the PKCE verifier of every code
--   BENCH_THREADS        wrk's -t (the codes are dealt out among threads)
--
-- Extra fields of the result line: exchanged (200 with an id_token), failed,
-- starved (requests sent after the thread's codes ran out; they are 400s).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")

setup = common.setup

local codes, next_code = {}, 1
local suffix
exchanged, failed, starved = 0, 0, 0

function init(args)
   local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local index = 0
   for line in io.lines(os.getenv("BENCH_CODES")) do
      if line ~= "" then
         if index % threads == id then codes[#codes + 1] = line end
         index = index + 1
      end
   end
   suffix = "&redirect_uri=" .. os.getenv("BENCH_REDIRECT_URI") .. "&code_verifier=" .. os.getenv("BENCH_VERIFIER")
end

function request()
   local code = codes[next_code]
   if code == nil then
      starved = starved + 1
      code = "exhausted"
   else
      next_code = next_code + 1
   end
   return wrk.format(nil, nil, nil, "grant_type=authorization_code&code=" .. code .. suffix)
end

function response(status, headers, body)
   if status == 200 and body:find('"id_token"', 1, true) then
      exchanged = exchanged + 1
   else
      failed = failed + 1
      common.note_status(status, body)
   end
end

function done(summary, latency, requests)
   common.report(summary, latency, {
      { "exchanged", common.sum("exchanged") },
      { "failed", common.sum("failed") },
      { "starved", common.sum("starved") },
   })
end
