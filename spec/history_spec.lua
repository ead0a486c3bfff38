-- The run history: every run of a program's tasks recorded in the default store of its HOME,
-- listed by `--history` (as a table and as JSON), kept through permission limits, a warning
-- when the store cannot open; and locks given back when their handle is collected or when
-- essh.main returns.
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"
local storage = require "essh.storage"

describe("the run history", function()
  local dir, script

  local PROGRAM = [[
local essh = require "essh"
essh.task "hello" { description = "says hello", script = function(t)
  io.write("hello ", table.concat(t.args, " "), "\n")
end }
essh.task "fails" { script = function() error("it broke") end }
essh.task "long" { script = function() error(("é"):rep(200)) end }
essh.task "limited" { permissions = { run = false }, script = function() io.write("limited ran\n") end }
os.exit(essh.main(arg))
]]

  setup(function()
    dir = assert(fs.tempdir())
    local command, path = lua.script(PROGRAM)
    script = { command = command, path = path }
  end)

  teardown(function()
    os.remove(script.path)
    shell.run("rm -rf " .. dir)
  end)

  -- Runs the program with `args` and HOME=`home` (default: the spec's); output and status.
  local function program(args, home, env)
    return shell.run(("cd %s && env -u ESSH_HISTORY HOME=%s %s %s %s 2>&1"):format(dir, home or dir, env or "",
      script.command, args))
  end

  it("records a run whose arguments and errors are not valid UTF-8 text, and the run ends as it would", function()
    local home = fs.join(dir, "bytes")
    -- An argument byte that is no UTF-8; an error of 400 bytes that the record cuts at 300
    -- (inside a character, when the prefix before it is of odd length).
    local out, status = program("long $(printf '\\377')", home)
    assert.are.equal(1, status, out)
    assert.matches("failed", out)
    assert.not_matches("history is not recorded", out)
    local runs = json.decode(assert(shell.must(("cd %s && env -u ESSH_HISTORY HOME=%s %s --history --json"):format(
      dir, home, script.command))))
    assert.are.equal(1, #runs)
    assert.are.same({ "\239\191\189" }, runs[1].args)
    assert.matches("éééé", runs[1].hosts[1].error)
  end)

  it("records every run with its arguments, who ran it and each host's status, newest first", function()
    local out, status = program("hello a 'b c'")
    assert.are.equal(0, status, out)
    local _, failed = program("fails")
    assert.are.equal(1, failed)
    program("hello again")
    local listing = assert(shell.must(("cd %s && env -u ESSH_HISTORY HOME=%s %s --history --json"):format(dir, dir,
      script.command)))
    local runs = json.decode(listing)
    assert.are.equal(3, #runs)
    assert.are.same({ "hello", "fails", "hello" }, { runs[1].task, runs[2].task, runs[3].task })
    assert.are.same({ "again" }, runs[1].args)
    assert.are.same({ "a", "b c" }, runs[3].args)
    assert.is_true(runs[3].ok)
    assert.are.equal(0, runs[3].exit_code)
    assert.are.equal("localhost", runs[3].hosts[1].name)
    assert.are.equal("ok", runs[3].hosts[1].status)
    assert.is_false(runs[2].ok)
    assert.are.equal(1, runs[2].exit_code)
    assert.are.equal("failed", runs[2].hosts[1].status)
    assert.are.equal(shell.must("id -un"):gsub("%s+$", ""), runs[1].by.user)
    assert.is_number(runs[1].by.pid)
    assert.is_true(runs[1].started >= runs[2].started and runs[2].started >= runs[3].started)
    assert.is_true(runs[1].started > os.time() - 120 and runs[1].duration >= 0)

    local only = json.decode(shell.must(("cd %s && env -u ESSH_HISTORY HOME=%s %s --history fails --json"):format(
      dir, dir, script.command)))
    assert.are.equal(1, #only)
    assert.are.equal("fails", only[1].task)

    local text = shell.must(("cd %s && env -u ESSH_HISTORY HOME=%s %s --history"):format(dir, dir, script.command))
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.matches("^STARTED%s+TASK%s+BY%s+TIME%s+RESULT%s+HOSTS$", lines[1])
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d  hello again%s+%S+@%S+%s+%d+%.%d%ds%s+ok%s+1 ok$", lines[2])
    assert.matches("  fails%s.*exit 1: .*it broke%s+1 failed$", lines[3])
    assert.matches("  hello a b c%s", lines[4])
  end)

  it("records runs that the command line's permissions limit, as essh's own act", function()
    local home = assert(fs.tempdir())
    local out, status = program("--deny-storage --deny-db --deny-write limited", home)
    assert.are.equal(0, status, out)
    assert.matches("limited ran", out)
    assert.not_matches("history", out)
    local runs = json.decode(shell.must(("cd %s && env -u ESSH_HISTORY HOME=%s %s --history --json"):format(dir, home,
      script.command)))
    assert.are.equal(1, #runs)
    assert.are.equal("limited", runs[1].task)
    shell.run("rm -rf " .. home)
  end)

  it("warns once and runs when the store cannot open, and keeps nothing with ESSH_HISTORY=off", function()
    local home = assert(fs.tempdir())
    assert(fs.write(home .. "/.essh", "a file where the directory would be"))
    local out, status = program("hello x", home)
    assert.are.equal(0, status, out)
    assert.matches("hello x\n", out)
    -- The warning names what failed: ~/.essh, a file, cannot be the store's directory.
    assert.matches("essh: the run history is not recorded: cannot create directory " .. home:gsub("%p", "%%%0")
      .. "/%.essh", out)
    local _, warnings = out:gsub("history is not recorded", "")
    assert.are.equal(1, warnings)

    local quiet = assert(fs.tempdir())
    out, status = program("hello y", quiet, "ESSH_HISTORY=off")
    assert.are.equal(0, status, out)
    assert.is_nil(fs.exists(quiet .. "/.essh/storage.db") or nil)
    shell.run("rm -rf " .. home .. " " .. quiet)
  end)

  it("keeps the newest lines of a key's history when set is given keep", function()
    local store = assert(storage.open("sqlite:" .. dir .. "/keep.db"))
    for i = 1, 6 do assert(store:set("k", i, { keep = 3 })) end
    local lines = assert(store:history("k", 10))
    assert.are.same({ 6, 5, 4 }, { lines[1].value, lines[2].value, lines[3].value })
    assert.are.equal(3, #lines)
    assert.has_error(function() store:set("k", 1, { keep = 0 }) end, "store:set: keep must be a positive integer, got 0")
    assert.has_error(function() store:set("k", 1, { tll = 5 }) end,
      "store:set: unknown option 'tll' (known: ttl, keep)")
    store:close()
  end)

  it("gives a lock back when its handle is collected and when essh.main returns", function()
    local url = "sqlite:" .. dir .. "/locks.db"
    local store, other = assert(storage.open(url)), assert(storage.open(url))
    assert(store:lock("collected", { ttl = 600 })) -- the handle is dropped at once
    assert.is_nil(other:lock("collected", { wait = 0 }))
    collectgarbage()
    collectgarbage()
    -- The next call of the module deletes the collected handle's row.
    local again = assert(other:lock("collected", { wait = 0 }))
    assert(again:release())

    local code = ([[
local essh = require "essh"
local held = assert(require("essh.storage").open(%q):lock("forgotten", { ttl = 600 }))
os.exit(essh.main({ "--version" }))
]]):format(url)
    local out, status = lua.run(code)
    assert.are.equal(0, status, out)
    local taken = assert(other:lock("forgotten", { wait = 0 }))
    assert(taken:release())
    store:close()
    other:close()
  end)
end)
