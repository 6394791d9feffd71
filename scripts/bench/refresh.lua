-- The refresh_token grant with rotation, as real clients use it: every
-- refresh-token family (session) always presents its newest token and has at
-- most one request in flight; each response's refresh_token replaces the one
-- just spent.
--
-- Environment:
--   BENCH_AUTHORIZATION    Basic credentials of the client owning the sessions
--   BENCH_REFRESH_TOKENS   file with one initial refresh token per line, each
--                          from its own login (its own session)
--   BENCH_THREADS          wrk's -t (the tokens are dealt out among threads)
--
-- wrk tells Lua nothing about connections, so each thread keeps a queue of
-- its sessions' current tokens: request() takes the oldest, response() puts
-- the successor at the back. A token is therefore never presented twice and a
-- session's requests are strictly sequential, as if each connection chained
-- its own token. bench.sh makes more sessions than connections, so that a
-- failed response (its chain ends: the successor is unknown) does not stall
-- a connection; if a thread ever runs out, it sends an invalid token, which
-- shows up as a 400 and in `starved`.
--
-- Extra fields of the result line: rotated (200 with a new refresh_token),
-- chains_broken (any other response), starved (requests sent without a
-- live token), sessions (tokens dealt out).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")

setup = common.setup

local queue, first, last = {}, 1, 0
rotated, chains_broken, starved, sessions = 0, 0, 0, 0

local function push(token)
   last = last + 1
   queue[last] = token
end

local function pop()
   if first > last then return nil end
   local token = queue[first]
   queue[first] = nil
   first = first + 1
   return token
end

function init(args)
   local threads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local file = assert(os.getenv("BENCH_REFRESH_TOKENS"), "BENCH_REFRESH_TOKENS is not set")
   local index = 0
   for line in io.lines(file) do
      if line ~= "" then
         if index % threads == id then
            push(line)
            sessions = sessions + 1
         end
         index = index + 1
      end
   end
end

-- Note: wrk calls request() once more on the first thread before the run, to
-- check the request's shape; that token is simply never sent (one idle session).
function request()
   local token = pop()
   if token == nil then
      starved = starved + 1
      token = "exhausted"
   end
   return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
   if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if token then
         push(token)
         rotated = rotated + 1
         return
      end
   end
   chains_broken = chains_broken + 1
   common.note_status(status, body)
end

function done(summary, latency, requests)
   common.report(summary, latency, {
      { "rotated", common.sum("rotated") },
      { "chains_broken", common.sum("chains_broken") },
      { "starved", common.sum("starved") },
      { "sessions", common.sum("sessions") },
   })
end
