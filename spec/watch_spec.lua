local watch = require "essh.watch"
local runtime = require "essh.runtime"
local fs = require "essh.fs"

describe("watch", function()
  local dir

  before_each(function() dir = assert(fs.tempdir("essh-watch")) end)
  after_each(function() fs.remove(dir, { recursive = true }) end)

  -- Runs `actions` as a task (a short pause before each) while watch.run dispatches.
  local function with_actions(actions, timeout)
    runtime.spawn(function()
      for _, action in ipairs(actions) do
        runtime.sleep(0.05)
        action()
      end
    end)
    watch.run({ timeout = timeout or 0.6 })
  end

  local function names(events)
    local out = {}
    for _, e in ipairs(events) do
      out[#out + 1] = e.kind .. " " .. fs.basename(e.path) .. (e.from and (" from " .. fs.basename(e.from)) or "")
    end
    return out
  end

  it("reports create, modify, rename and remove in a directory", function()
    local events = {}
    local handle = watch.add(dir, function(e) events[#events + 1] = e end)
    with_actions({
      function() fs.write(fs.join(dir, "a"), "1", { atomic = false }) end,
      function() fs.append(fs.join(dir, "a"), "2") end,
      function() fs.move(fs.join(dir, "a"), fs.join(dir, "b")) end,
      function() fs.remove(fs.join(dir, "b")) end,
    })
    handle:remove()
    local seen = table.concat(names(events), ",")
    assert.matches("^create a,modify a,.*rename a,rename b from a,remove b$", seen)
  end)

  it("sees deeper changes only when recursive", function()
    fs.mkdir(fs.join(dir, "sub"))
    local flat, deep = {}, {}
    local h1 = watch.add(dir, function(e) flat[#flat + 1] = e end)
    local h2 = watch.add(dir, function(e) deep[#deep + 1] = e end, { recursive = true })
    with_actions({ function() fs.write(fs.join(dir, "sub", "f"), "x") end })
    h1:remove()
    h2:remove()
    assert.equal(0, #flat)
    assert.is_true(#deep > 0)
    assert.equal(fs.join(dir, "sub"), fs.dirname(deep[1].path))
  end)

  it("debounces a burst of writes into one event", function()
    local events = {}
    local h = watch.add(dir, function(e) events[#events + 1] = e end, { debounce_ms = 150 })
    local path = fs.join(dir, "burst")
    local burst = {}
    for i = 1, 20 do burst[i] = function() fs.append(path, tostring(i)) end end
    runtime.spawn(function()
      for _, f in ipairs(burst) do f() runtime.sleep(0.005) end
    end)
    watch.run({ timeout = 0.6 })
    h:remove()
    assert.equal(1, #events)
    assert.equal(path, events[1].path)
  end)

  it("filters by a file-name glob or a predicate", function()
    local lua_events, big_events = {}, {}
    local h1 = watch.add(dir, function(e) lua_events[#lua_events + 1] = e end, { filter = "*.lua" })
    local h2 = watch.add(dir, function(e) big_events[#big_events + 1] = e end,
      { filter = function(e) return e.kind == "create" end })
    with_actions({
      function() fs.write(fs.join(dir, "a.lua"), "x", { atomic = false }) end,
      function() fs.write(fs.join(dir, "b.txt"), "x", { atomic = false }) end,
    })
    h1:remove()
    h2:remove()
    for _, e in ipairs(lua_events) do assert.equal("a.lua", fs.basename(e.path)) end
    assert.is_true(#lua_events > 0)
    assert.same({ "create a.lua", "create b.txt" }, names(big_events))
  end)

  it("stops when a callback returns false, and works as the seed writes it", function()
    local count = 0
    watch.add(dir, function()
      count = count + 1
      return false
    end)
    local t0 = runtime.monotonic()
    with_actions({ function() fs.write(fs.join(dir, "x"), "1", { atomic = false }) end }, 5)
    assert.is_true(runtime.monotonic() - t0 < 2)
    assert.equal(1, count)
  end)

  it("waits for one event, or times out with an error", function()
    runtime.spawn(function()
      runtime.sleep(0.1)
      fs.write(fs.join(dir, "ready"), "1")
    end)
    local event = assert(watch.wait(dir, { timeout = 2 }))
    assert.equal("ready", fs.basename(event.path):match("ready"))
    watch.run({ timeout = 0.2 }) -- drains what the atomic write left queued
    local quiet = fs.join(dir, "quiet")
    fs.mkdir(quiet)
    local none, err = watch.wait(quiet, { timeout = 0.1 })
    assert.is_nil(none)
    assert.equal("timeout", err.kind)
  end)

  it("refuses a missing path", function()
    assert.has_error(function() watch.add(fs.join(dir, "missing"), function() end) end)
  end)
end)
