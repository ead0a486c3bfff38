local runtime = require "essh_native.runtime"
local lua = require "support.lua"

local function elapsed(fn)
  local t0 = runtime.monotonic()
  local a, b, c = fn()
  return runtime.monotonic() - t0, a, b, c
end

describe("runtime.sleep", function()
  it("blocks plain code for the given time", function()
    local t = elapsed(function() runtime.sleep(0.1) end)
    assert.is_true(t >= 0.1 and t < 0.5, "slept " .. t)
  end)

  it("rejects negative and non-numeric durations", function()
    assert.has_error(function() runtime.sleep(-1) end, "runtime.sleep: seconds must be a non-negative number, got -1")
    assert.has_error(function() runtime.sleep("x") end,
      "bad argument #1 to 'runtime.sleep' (number expected, got string)")
  end)

  it("costs next to no CPU while tasks sleep", function()
    local c0 = os.clock()
    local fns = {}
    for i = 1, 20 do fns[i] = function() runtime.sleep(1) end end
    runtime.parallel(fns)
    assert.is_true(os.clock() - c0 < 0.1, "CPU seconds: " .. (os.clock() - c0))
  end)
end)

describe("runtime.parallel", function()
  it("runs the functions concurrently and returns their results in order", function()
    local t, rs = elapsed(function()
      return runtime.parallel({
        function() runtime.sleep(0.3) return "a" end,
        function() runtime.sleep(0.2) return 1, 2 end,
        function() runtime.sleep(0.1) end,
      })
    end)
    assert.is_true(t < 0.45, "took " .. t)
    assert.same({ n = 1, "a" }, rs[1])
    assert.same({ n = 2, 1, 2 }, rs[2])
    assert.same({ n = 0 }, rs[3])
  end)

  it("makes an error in one function that item's result, never thrown across the others", function()
    local rs = runtime.parallel({
      function() runtime.sleep(0.05) error("boom", 0) end,
      function() runtime.sleep(0.1) return "fine" end,
    })
    assert.is_nil(rs[1][1])
    assert.equal("boom", rs[1][2])
    assert.equal("fine", rs[2][1])
  end)

  it("keeps at most limit functions running at once", function()
    local running, peak = 0, 0
    local fns = {}
    for i = 1, 12 do
      fns[i] = function()
        running = running + 1
        if running > peak then peak = running end
        runtime.sleep(0.05)
        running = running - 1
        return i
      end
    end
    local t, rs = elapsed(function() return runtime.parallel(fns, { limit = 4 }) end)
    assert.equal(4, peak)
    assert.equal(12, rs[12][1])
    assert.is_true(t >= 0.15 and t < 0.4, "took " .. t)
  end)

  it("nests: a task may run its own parallel group", function()
    local t, rs = elapsed(function()
      return runtime.parallel({
        function()
          return runtime.parallel({ function() runtime.sleep(0.2) return 1 end, function() runtime.sleep(0.2) return 2 end })
        end,
        function() runtime.sleep(0.2) return 3 end,
      })
    end)
    assert.is_true(t < 0.35, "took " .. t)
    assert.equal(2, rs[1][1][2][1])
    assert.equal(3, rs[2][1])
  end)

  it("keeps tasks concurrent when they wait inside pcall", function()
    local t, rs = elapsed(function()
      return runtime.parallel({
        function() return pcall(runtime.sleep, 0.2) end,
        function() return pcall(runtime.sleep, 0.2) end,
        function() return pcall(runtime.sleep, 0.2) end,
      })
    end)
    assert.is_true(t < 0.35, "took " .. t)
    assert.is_true(rs[3][1])
  end)

  it("leaves coroutines of the user's own alone", function()
    local rs = runtime.parallel({
      function()
        local gen = coroutine.wrap(function()
          runtime.sleep(0.01) -- blocks: this coroutine is not a task
          coroutine.yield("mine")
        end)
        return gen()
      end,
    })
    assert.equal("mine", rs[1][1])
  end)

  it("validates its arguments", function()
    assert.has_error(function() runtime.parallel(nil) end,
      "bad argument #1 to 'runtime.parallel' (table expected, got nil)")
    assert.has_error(function() runtime.parallel({}, { limit = 0 }) end)
  end)
end)

describe("runtime.spawn", function()
  it("returns a handle whose wait gives the results", function()
    local h = runtime.spawn(function(x) runtime.sleep(0.01) return x * 2 end, 21)
    assert.equal(42, h:wait())
    assert.is_true(h.done)
  end)

  it("runs spawned tasks while plain code waits on something else", function()
    local progressed = false
    local h = runtime.spawn(function() runtime.sleep(0.05) progressed = true end)
    runtime.sleep(0.2)
    assert.is_true(progressed)
    h:wait()
  end)

  it("reports a failed task as nil, err", function()
    local h = runtime.spawn(function() error({ code = 7 }) end)
    local v, err = h:wait()
    assert.is_nil(v)
    assert.equal(7, err.code)
  end)

  it("knows the current task", function()
    assert.is_nil(runtime.current())
    local h
    h = runtime.spawn(function() return runtime.current() == h end)
    assert.is_true(h:wait())
  end)

  it("cancels a task at its current wait", function()
    local after = false
    local h = runtime.spawn(function() runtime.sleep(5) after = true end)
    runtime.sleep(0.05)
    h:cancel()
    local v, err = h:wait()
    assert.is_nil(v)
    assert.equal("interrupted", err.kind)
    assert.is_false(after)
  end)
end)

describe("runtime.timeout", function()
  it("returns the function's results when it is fast enough", function()
    assert.same({ "fast", 2 }, { runtime.timeout(1, function(x) return "fast", x end, 2) })
  end)

  it("stops a slow function and returns a timeout error", function()
    local t, v, err = elapsed(function() return runtime.timeout(0.1, function() runtime.sleep(5) return "late" end) end)
    assert.is_nil(v)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(t < 0.3, "took " .. t)
  end)
end)

describe("runtime.pcall", function()
  it("catches errors like pcall", function()
    assert.same({ false, "x" }, { runtime.pcall(error, "x", 0) })
    assert.same({ true, 1, 2 }, { runtime.pcall(function(a) return a, 2 end, 1) })
  end)

  it("keeps waits under it yielding, so a timeout can stop them on every Lua", function()
    local t, v, err = elapsed(function()
      return runtime.timeout(0.2, function() return runtime.pcall(runtime.sleep, 5) end)
    end)
    assert.is_nil(v)
    assert.equal("timeout", err.kind)
    assert.is_true(t < 1, "took " .. t)
  end)
end)

describe("runtime.monotonic", function()
  it("never goes back", function()
    local a = runtime.monotonic()
    local b = runtime.monotonic()
    assert.is_true(b >= a)
  end)
end)

describe("Ctrl-C", function()
  local function interrupt(code)
    local command, path = lua.script(code)
    local p = assert(io.popen("(" .. command .. " & pid=$!; sleep 0.5; kill -INT $pid; wait $pid) 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    return out
  end

  it("interrupts a blocking wait with an error the script can handle", function()
    local out = interrupt([[
      local runtime = require "essh_native.runtime"
      local t0 = runtime.monotonic()
      local ok, err = pcall(runtime.sleep, 30)
      print(ok, err.kind, runtime.monotonic() - t0 < 5)
    ]])
    assert.equal("false\tinterrupted\ttrue\n", out)
  end)

  it("cancels outstanding tasks, which see the error, then raises it to the caller", function()
    local out = interrupt([[
      local runtime = require "essh_native.runtime"
      local seen = {}
      local ok, err = pcall(runtime.parallel, {
        function() local ok, e = pcall(runtime.sleep, 30) seen[1] = e.kind end,
        function() local ok, e = pcall(runtime.sleep, 30) seen[2] = e.kind end,
      })
      print(ok, err.kind, seen[1], seen[2])
    ]])
    assert.equal("false\tinterrupted\tinterrupted\tinterrupted\n", out)
  end)
end)
