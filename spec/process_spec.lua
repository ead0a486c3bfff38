local process = require "essh.process"
local runtime = require "essh.runtime"
local fs = require "essh.fs"

describe("process.run", function()
  it("runs a command line through the shell and returns output and exit status", function()
    local r = assert(process.run("echo out; echo err >&2; exit 4"))
    assert.equal("out\n", r.stdout)
    assert.equal("err\n", r.stderr)
    assert.equal(4, r.exitStatus)
    assert.equal(4, r.exit_status)
    assert.is_false(r.ok)
    assert.is_true(r.duration >= 0)
  end)

  it("runs an argv list without a shell", function()
    local r = assert(process.run({ "printf", "%s|", "a b", "$HOME" }))
    assert.equal("a b|$HOME|", r.stdout)
    assert.is_true(r.ok)
  end)

  it("passes env, cwd and stdin", function()
    local dir = assert(fs.tempdir())
    local r = assert(process.run("echo $ESSH_P; pwd; cat", { env = { ESSH_P = "v" }, cwd = dir, stdin = "in" }))
    assert.equal("v\n" .. dir .. "\nin", r.stdout)
    local chunks, i = { "a", "b" }, 0
    r = assert(process.run({ "cat" }, { stdin = function() i = i + 1 return chunks[i] end }))
    assert.equal("ab", r.stdout)
    fs.remove(dir)
  end)

  it("reports the signal that killed the command", function()
    local r = assert(process.run("kill -TERM $$"))
    assert.is_nil(r.exitStatus)
    assert.equal("TERM", r.signal)
  end)

  it("kills the command on timeout and returns a timeout error", function()
    local t0 = runtime.monotonic()
    local r, err = process.run({ "sleep", "10.0417" }, { timeout = 0.2 })
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.is_true(runtime.monotonic() - t0 < 2)
    assert.equal("", process.run("pgrep -f '^sleep 10.0417$' || true").stdout)
  end)

  it("streams output live, in lines when asked", function()
    local lines = {}
    local r = assert(process.run("printf 'a\\nb\\nc'", { on_stdout = function(l) lines[#lines + 1] = l end, lines = true }))
    assert.same({ "a", "b", "c" }, lines)
    assert.equal("", r.stdout)
    local bytes = 0
    process.run({ "head", "-c", "20000000", "/dev/zero" }, { on_stdout = function(c) bytes = bytes + #c end })
    assert.equal(20000000, bytes)
  end)

  it("waits for whole lines longer than one read", function()
    local lines = {}
    local r = assert(process.run("head -c 60000 /dev/zero | tr '\\0' x; echo; echo end", {
      on_stdout = function(l) lines[#lines + 1] = #l end, lines = true,
    }))
    assert.same({ 60000, 3 }, lines)
    assert.is_true(r.ok)
  end)

  it("hands a line longer than 64 KiB over in 64 KiB pieces, each marked as going on", function()
    local pieces, marks, lines = 0, 0, {}
    local r = assert(process.run("head -c 8388608 /dev/zero | tr '\\0' x; printf 'yz\\nend\\n'", { lines = true,
      on_stdout = function(line, partial)
        if partial then
          assert.equal(65536, #line)
          pieces, marks = pieces + 1, marks + 1
        else
          lines[#lines + 1] = line
        end
      end }))
    assert.is_true(r.ok)
    assert.equal(128, pieces)
    assert.equal(128, marks)
    assert.same({ "yz", "end" }, lines)
  end)

  it("runs many commands at once under the scheduler", function()
    local fns = {}
    for i = 1, 20 do fns[i] = function() return process.run("sleep 0.2; echo " .. i).stdout end end
    local t0 = runtime.monotonic()
    local rs = runtime.parallel(fns)
    assert.is_true(runtime.monotonic() - t0 < 1, "took " .. (runtime.monotonic() - t0))
    assert.equal("20\n", rs[20][1])
  end)

  it("reports a missing program as an error, and rejects bad arguments", function()
    local r, err = process.run({ "/nonexistent/program" })
    assert.is_nil(r)
    assert.equal("not_found", err.kind)
    assert.has_error(function() process.run({}) end, "process.run: the argument list is empty")
    assert.has_error(function() process.run("true", { cmd = 1 }) end, "process.run: unknown option 'cmd'")
  end)
end)
