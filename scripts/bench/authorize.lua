-- GET /oauth2/authorize with a live browser session: single sign-on, answered
-- with a 302 to the application carrying a fresh code. The requests take turns
-- among many signed-in browsers (one user each), as real traffic does. Every
-- code is written to a file per thread, for the code-exchange scenario that runs
-- right after (codes live 60 s).
--
-- Environment:
--   BENCH_SESSIONS     file with one browser session cookie value per line
--   BENCH_CODES_FILE   codes are appended to BENCH_CODES_FILE.<thread id>
--
-- Extra fields of the result line: codes (302s carrying a code), refused (any
-- other answer).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "GET"

setup = common.setup

codes, refused = 0, 0
local out
local cookies, turn = {}, 0

function init(args)
   out = assert(io.open(os.getenv("BENCH_CODES_FILE") .. "." .. id, "w"))
   out:setvbuf("full")
   for line in io.lines(os.getenv("BENCH_SESSIONS")) do
      if line ~= "" then cookies[#cookies + 1] = "signet_session=" .. line end
   end
end

function request()
   turn = turn % #cookies + 1
   return wrk.format(nil, nil, { Cookie = cookies[turn] })
end

function response(status, headers, body)
   local code = status == 302 and (headers["Location"] or headers["location"] or ""):match("[?&]code=([^&]+)")
   if code then
      out:write(code, "\n")
      codes = codes + 1
   else
      refused = refused + 1
      common.note_status(status, body)
   end
end

function done(summary, latency, requests)
   common.report(summary, latency, {
      { "codes", common.sum("codes") },
      { "refused", common.sum("refused") },
   })
end
