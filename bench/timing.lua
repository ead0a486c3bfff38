--- The benchmarks' clock and best-of-N timings (seconds on the monotonic clock).
local clock = require("essh_native").runtime.monotonic
local unpack = table.unpack or unpack -- luacheck: ignore 143

local M = { clock = clock }

--- The shortest of `runs` (default BENCH_RUNS, else 3) timings of each function of `fns`, run
--- in turn, each round starting with the next one: a machine whose speed drifts over a run then
--- slows every side alike, as timing one side's runs and then the other's does not.
function M.best_of_each(fns, runs)
  runs = runs or tonumber(os.getenv("BENCH_RUNS") or "3")
  local bests = {}
  for i = 1, #fns do bests[i] = math.huge end
  for round = 1, runs do
    for k = 0, #fns - 1 do
      local i = (round - 1 + k) % #fns + 1
      local t0 = clock()
      fns[i]()
      bests[i] = math.min(bests[i], clock() - t0)
    end
  end
  return unpack(bests)
end

--- The shortest of `runs` (default BENCH_RUNS, else 3) runs of fn(), in seconds.
function M.best(fn, runs)
  return M.best_of_each({ fn }, runs)
end

return M
