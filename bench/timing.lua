--- The benchmarks' clock: the best of `runs` timings of fn (seconds on the monotonic clock).
local clock = require("essh_native").runtime.monotonic

local M = { clock = clock }

--- The shortest of `runs` (default BENCH_RUNS, else 3) runs of fn(), in seconds.
function M.best(fn, runs)
  runs = runs or tonumber(os.getenv("BENCH_RUNS") or "3")
  local b = math.huge
  for _ = 1, runs do
    local t0 = clock()
    fn()
    b = math.min(b, clock() - t0)
  end
  return b
end

return M
