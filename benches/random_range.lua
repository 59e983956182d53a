-- wrk script for benches/load.sh: the same requests against every target.
--
--   MODE=range SIZE=1024 FILE_LEN=268435456 wrk -s benches/random_range.lua URL
--   MODE=multipart wrk -s benches/random_range.lua URL
--   MODE=full wrk -s benches/random_range.lua URL
--
-- (or as wrk arguments after `--`: MODE SIZE FILE_LEN, e.g.
--  `wrk -s benches/random_range.lua URL -- range 65536 268435456`.)
-- The path comes from URL.
--
-- MODE=range      each request has its own `Range: bytes=a-b` of SIZE bytes,
--                 a uniform over [0, FILE_LEN - SIZE], aligned to nothing.
--                 The generator is seeded with SEED (default 1) plus the
--                 thread number, so every target gets the same sequence.
-- MODE=multipart  every request has RANGES (default three 1 KiB ranges at
--                 0, 1 MiB and 4 MiB: a multipart/byteranges answer).
-- MODE=full       no Range header: the whole representation.
--
-- done() prints one line for load.sh to parse:
--   RESULT requests=N duration_us=N rps=X p50_ms=X p99_ms=X non2xx=N
--          unexpected=N socket_errors=N bytes=N
-- non2xx is wrk's count of responses with status >= 400. With VERIFY=1 a
-- response() callback also checks every status (206 for range and
-- multipart, 200 for full) and `unexpected` counts the others; without it
-- `unexpected` is -1 (not counted: the callback makes wrk copy every body
-- into Lua, which costs the client CPU on a small machine). load.sh also
-- checks the average bytes per response, which catches any 200 or other
-- answer of the wrong size among the 206s.

local mode = os.getenv("MODE") or "range"
local size = tonumber(os.getenv("SIZE") or "1024")
local file_len = tonumber(os.getenv("FILE_LEN") or "0")
local ranges = os.getenv("RANGES") or "bytes=0-1023,1048576-1049599,4194304-4195327"
local seed = tonumber(os.getenv("SEED") or "1")
local verify = os.getenv("VERIFY") == "1"

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   if args[1] then mode = args[1] end
   if args[2] then size = tonumber(args[2]) end
   if args[3] then file_len = tonumber(args[3]) end
   math.randomseed(seed + 7919 * (id or 0))
   expected = (mode == "full") and 200 or 206
   unexpected = 0
   if mode == "range" then
      if file_len < size or size < 1 then
         error("MODE=range needs FILE_LEN >= SIZE >= 1")
      end
      local last_start = file_len - size
      request = function()
         local first = math.random(0, last_start)
         return wrk.format(nil, nil, {
            ["Range"] = string.format("bytes=%d-%d", first, first + size - 1),
         })
      end
   elseif mode == "multipart" then
      -- The same request every time: wrk's prebuilt request, no Lua per request.
      wrk.headers["Range"] = ranges
   elseif mode ~= "full" then
      error("MODE must be range, multipart or full, not " .. tostring(mode))
   end
   if verify then
      response = function(status, headers, body)
         if status ~= expected then
            unexpected = unexpected + 1
         end
      end
   end
end

function done(summary, latency, requests)
   local bad = 0
   for _, thread in ipairs(threads) do
      bad = bad + (tonumber(thread:get("unexpected")) or 0)
   end
   if not verify then bad = -1 end
   local e = summary.errors
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d duration_us=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d unexpected=%d socket_errors=%d bytes=%d\n",
      summary.requests, summary.duration, summary.requests / seconds,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      e.status, bad, e.connect + e.read + e.write + e.timeout, summary.bytes))
end
