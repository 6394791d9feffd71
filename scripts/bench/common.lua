-- Shared by the wrk scripts of scripts/bench.sh (loaded with dofile into the
-- main Lua state and into each thread's state).
--
-- done() prints one machine-readable line that bench.sh parses:
--   bench-result requests=… seconds=… rps=… p50_ms=… p90_ms=… p99_ms=… max_ms=…
--                non2xx=… connect_errors=… read_errors=… write_errors=… timeouts=… [extra…]
-- and, when any thread saw a failing response, one line per status:
--   bench-status STATUS COUNT first-body…
-- `non2xx` is wrk's own count of responses with a status of 400 or more
-- (summary.errors.status); none of the benchmarked routes answers 1xx or 3xx.

local M = {}

local threads = {}

-- wrk.setup hook (main state): numbers the threads from 0 and keeps them so
-- that done() can read their counters.
function M.setup(thread)
   thread:set("id", #threads)
   threads[#threads + 1] = thread
end

-- Per-thread record of failing statuses (thread state). Only installed as the
-- response() callback where a script needs it: a response() callback makes wrk
-- hand every body to Lua, which costs client CPU.
statuses = {}
first_bodies = {}

function M.note_status(status, body)
   statuses[status] = (statuses[status] or 0) + 1
   if first_bodies[status] == nil then
      first_bodies[status] = (body or ""):sub(1, 300):gsub("%s+", " ")
   end
end

function M.count_failures(status, headers, body)
   if status < 200 or status > 299 then
      M.note_status(status, body)
   end
end

-- Sum of a numeric global over all threads (main state, from done()).
function M.sum(name)
   local total = 0
   for _, thread in ipairs(threads) do
      total = total + (tonumber(thread:get(name)) or 0)
   end
   return total
end

function M.report(summary, latency, extra)
   local errors = summary.errors
   local seconds = summary.duration / 1e6
   local fields = {
      string.format("requests=%d", summary.requests),
      string.format("seconds=%.3f", seconds),
      string.format("rps=%.1f", summary.requests / seconds),
      string.format("p50_ms=%.3f", latency:percentile(50) / 1000),
      string.format("p90_ms=%.3f", latency:percentile(90) / 1000),
      string.format("p99_ms=%.3f", latency:percentile(99) / 1000),
      string.format("max_ms=%.3f", latency.max / 1000),
      string.format("non2xx=%d", errors.status),
      string.format("connect_errors=%d", errors.connect),
      string.format("read_errors=%d", errors.read),
      string.format("write_errors=%d", errors.write),
      string.format("timeouts=%d", errors.timeout),
   }
   for _, pair in ipairs(extra or {}) do
      fields[#fields + 1] = string.format("%s=%s", pair[1], tostring(pair[2]))
   end
   io.write("bench-result ", table.concat(fields, " "), "\n")

   local counts, bodies = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         counts[status] = (counts[status] or 0) + count
      end
      for status, body in pairs(thread:get("first_bodies") or {}) do
         bodies[status] = bodies[status] or body
      end
   end
   for status, count in pairs(counts) do
      io.write(string.format("bench-status %s %d %s\n", tostring(status), count, bodies[status] or ""))
   end
end

return M
