-- The storage module on SQLite files, on a PostgreSQL server and on an S3 bucket of moto (the
-- AWS emulator) the spec starts: values, expiry, history, atomic updates from ten processes at
-- once, and locks across processes, with holders killed by SIGKILL. Lua 5.4 in CI
-- (ESSH_HEAVY_SPECS=1 anywhere).
local databases = require "support.databases"
local emulator = require "support.aws"
local env = require "essh.env"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local storage = require "essh.storage"

local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"

describe("storage", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the storage spec runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local dir, pg, moto
  local before = {}

  setup(function()
    dir = assert(fs.tempdir())
    if databases.available("postgres") then pg = databases.postgres() end
    if emulator.available() then
      moto = emulator.start(1)
      -- This process and the children it starts reach moto's bucket with its keys.
      for name, value in pairs({ AWS_ENDPOINT_URL = moto.endpoint, AWS_ACCESS_KEY_ID = moto.access_key,
        AWS_SECRET_ACCESS_KEY = moto.secret_key, AWS_REGION = "us-east-1" }) do
        before[name] = env.get(name) or false
        env.set(name, value)
      end
    end
  end)

  teardown(function()
    for name, value in pairs(before) do
      if value then env.set(name, value) else env.unset(name) end
    end
    if pg then pg.stop() end
    if moto then moto.stop() end
    if dir then shell.run("rm -rf " .. dir) end
  end)

  -- Runs `n` child interpreters of `code` at once with STORE set; their outputs.
  local function children(n, code, store)
    local command, path = lua.script(code)
    local jobs = {}
    for i = 1, n do
      jobs[#jobs + 1] = ("HOME=%s STORE=%s CHILD=%d %s > %s/out.%d 2>&1"):format(dir, shell.quote(store), i, command, dir, i)
    end
    shell.must(table.concat(jobs, " & ") .. " & wait")
    os.remove(path)
    local outs = {}
    for i = 1, n do outs[i] = fs.read(("%s/out.%d"):format(dir, i)) end
    return outs
  end

  -- The pid a child wrote to `file`, once it has.
  local function pid_in(file)
    for _ = 1, 400 do
      local text = fs.read(file)
      if text and text:match("^%d+\n") then return tonumber(text:match("^%d+")) end
      shell.run("sleep 0.025")
    end
    error("no pid in " .. file)
  end

  local PID = [[
local stat = io.open("/proc/self/stat")
local pid = stat:read("*l"):match("^%d+")
stat:close()
local f = io.open(os.getenv("PID_FILE"), "w")
f:write(pid, "\n")
f:close()
]]

  -- Starts a process that holds the lock `name` of `store` (a lease of `ttl` seconds) until it
  -- is killed: its pid, and its script's path to remove.
  local function holder(store, name, ttl)
    local command, path = lua.script(([[
local s = assert(require("essh.storage").open(os.getenv("STORE")))
local lock = assert(s:lock(%q, { ttl = %s }))
]]):format(name, ttl) .. PID .. [[
os.execute("sleep 60")
]])
    local pid_file = fs.join(dir, name .. ".pid")
    os.remove(pid_file)
    shell.must(("(STORE=%s PID_FILE=%s %s >/dev/null 2>&1 &)"):format(shell.quote(store), pid_file, command))
    return pid_in(pid_file), path
  end

  local function stores()
    local list = { { "sqlite", "sqlite:" .. fs.join(dir, "shared.db") } }
    if pg then list[#list + 1] = { "postgres", pg.url } end
    if moto then list[#list + 1] = { "s3", "s3://essh-spec/storage-" .. dir:match("[^/]+$") } end
    return list
  end

  it("keeps values, expires them, lists keys by prefix and remembers their history", function()
    for _, case in ipairs(stores()) do
      local s = assert(storage.open(case[2]))
      assert(s:set("release/web1", { version = "v41" }))
      assert(s:set("release/web1", { version = "v42" }))
      assert(s:set("release/web2", "v40"))
      assert(s:set("release/web10", "v39", { keep = 1 }))
      assert(s:set("release/web10", "v40", { keep = 1 }))
      -- S3's clock counts whole seconds.
      local ttl = case[1] == "s3" and 1 or 0.2
      assert(s:set("session", "x", { ttl = ttl }))
      assert(s:set("Release/web3", "other case"))
      assert(s:set("release-web4", "v1"))
      assert.same({ version = "v42" }, s:get("release/web1"), case[1])
      assert.same({ "release/web1", "release/web10", "release/web2" }, s:keys("release/"), case[1])
      -- Prefixes match bytes (no case folding, no wildcards), and keys come in byte order.
      assert.same({ "release-web4", "release/web1", "release/web10", "release/web2" }, s:keys("release"), case[1])
      assert.same({ "Release/web3" }, s:keys("Release"), case[1])
      assert.same({}, s:keys("release_"), case[1])
      assert.same({}, s:keys("release%"), case[1])
      assert.same({ "release/web1", "release/web10" }, s:keys("release/web1"), case[1])
      assert.equal("x", s:get("session"))
      require("essh.runtime").sleep(ttl + (case[1] == "s3" and 1.1 or 0.1))
      assert.is_nil(s:get("session"), case[1])
      assert.same({}, s:keys("session"), case[1])
      assert.is_nil(s:update("session", function(old) if old ~= nil then return "still there" end end), case[1])
      local h = assert(s:history("release/web1"))
      assert.equal(2, #h, case[1])
      assert.same({ version = "v42" }, h[1].value)
      assert.same({ version = "v41" }, h[2].value)
      assert.equal(shell.must("id -un"):gsub("%s+$", ""), h[1].by.user)
      assert.equal(1, #assert(s:history("release/web10")), case[1])
      assert(s:delete("release/web2"))
      assert.is_nil(s:get("release/web2"))
      assert.same({ "release/web1", "release/web10" }, s:keys("release/"), case[1])
      assert.equal(2, #assert(s:history("release/web2")), case[1])
      assert.is_nil(assert(s:history("release/web2"))[1].value, case[1])
      assert.equal(1, s:update("gone", function() return 1 end), case[1])
      assert.is_nil(s:update("gone", function() return nil end), case[1])
      assert.is_nil(s:get("gone"), case[1])
      assert.same({}, s:keys("gone"), case[1])
    end
  end)

  it("refuses a key that is no string, a nil value and options out of range, at the caller's line", function()
    for _, case in ipairs(stores()) do
      local s = assert(storage.open(case[2]))
      local here = "storage_spec.lua:%d+: "
      local calls = {
        { function() s:set(nil, 1) end, "bad argument #1 to 'store:set' (string expected, got nil)" },
        { function() s:get(42) end, "bad argument #1 to 'store:get' (string expected, got number)" },
        { function() s:delete({}) end, "bad argument #1 to 'store:delete' (string expected, got table)" },
        { function() s:keys(5) end, "bad argument #1 to 'store:keys' (string expected, got number)" },
        { function() s:set("k", nil) end,
          "bad argument #2 to 'store:set' (a value expected, got nil; store:delete removes a key)" },
        { function() s:set("k", 0 / 0) end, "storage: the value cannot be stored: json.encode: cannot encode NaN" },
        { function() s:set("k", 1, { ttl = -1 }) end, "store:set: ttl must be a positive number, got -1" },
        { function() s:set("k", 1, { ttl = "5" }) end, "store:set: ttl must be a positive number, got 5" },
        { function() s:set("k", 1, { keep = 1.5 }) end, "store:set: keep must be a positive integer, got 1.5" },
        { function() s:update("k") end, "bad argument #2 to 'store:update' (function expected, got nil)" },
        { function() s:update("k", function() end, { attempts = 0 }) end,
          "store:update: attempts must be a positive integer, got 0" },
        { function() s:history("k", -1) end, "store:history: n must be a positive integer, got -1" },
        { function() s:lock("l", { ttl = 0 }) end, "store:lock: ttl must be a positive number, got 0" },
        { function() s:lock("l", { wait = -1 }) end, "store:lock: wait must be a number of seconds, 0 or more, got -1" },
      }
      for _, call in ipairs(calls) do
        local ok, err = pcall(call[1])
        assert.is_false(ok, call[2])
        assert.matches(here .. call[2]:gsub("%p", "%%%0"), tostring(err), nil, false, case[1])
      end
      assert.same({}, s:keys("k"), case[1])
      assert.is_nil(s:get("l"), case[1])
    end
  end)

  it("opens an S3 store only on a bucket that is there, and refuses options it cannot use", function()
    if not moto then return pending("moto is not installed (make deps)") end
    local none, err = storage.open("s3://no-such-bucket/state")
    assert.is_nil(none)
    assert.equal("not_found", err.kind)
    local _, bad = storage.open("s3:///state")
    assert.equal("invalid", bad.kind)
    assert.has_error(function() storage.open("s3://essh-spec/x", { aws = "us-east-1" }) end,
      "storage.open: options.aws must be a table of aws.client options, got string")
    assert.has_error(function() storage.open("sqlite:" .. dir .. "/x.db", { aws = {} }) end,
      "storage.open: unknown option 'aws' (known: timeout)")
    local s = assert(storage.open("s3://essh-spec/explicit", { timeout = 10, aws = { region = "us-east-1" } }))
    assert(s:set("k", { 1, 2 }))
    assert.same({ 1, 2 }, s:get("k"))
  end)

  it("creates the default store under ~/.essh, mode 0600", function()
    local out = shell.must(("HOME=%s %s"):format(dir, (lua.script([[
local s = assert(require("essh.storage").open())
assert(s:set("k", 1))
print(s:get("k"))
]]))))
    assert.equal("1\n", out)
    assert.equal("600\n", shell.must("stat -c %a " .. fs.join(dir, ".essh", "storage.db")))
    assert.equal("700\n", shell.must("stat -c %a " .. fs.join(dir, ".essh")))
  end)

  -- On S3 each add is three requests to moto (a few ms each): ten processes add 10 each there.
  it("ends at exactly 1,000 when ten processes each add 1 a hundred times", function()
    for _, case in ipairs(stores()) do
      local adds = case[1] == "s3" and 10 or 100
      local outs = children(10, ([[
local s = assert(require("essh.storage").open(os.getenv("STORE")))
for _ = 1, %d do assert(s:update("counter", function(n) return (n or 0) + 1 end)) end
]]):format(adds), case[2])
      for _, out in ipairs(outs) do assert.equal("", out, case[1]) end
      local s = assert(storage.open(case[2]))
      assert.equal(10 * adds, s:get("counter"), case[1])
      assert.equal(10, #assert(s:history("counter", 10)), case[1])
    end
  end)

  it("gives a lock to one process at a time, across processes and stores on one database", function()
    for _, case in ipairs(stores()) do
      local outs = children(4, [[
local runtime = require "essh.runtime"
local s = assert(require("essh.storage").open(os.getenv("STORE")))
local lock = assert(s:lock("deploy", { ttl = 30, wait = 30 }))
local n = s:get("inside") or 0
assert(s:set("inside", n + 1))
if n ~= 0 then print("OVERLAP") end
runtime.sleep(0.2)
assert(s:set("inside", s:get("inside") - 1))
assert(lock:release())
print("done")
]], case[2])
      for _, out in ipairs(outs) do assert.equal("done\n", out, case[1]) end
    end
  end)

  it("names the holder when the lock stays taken, and frees it once a killed holder's lease ends", function()
    for _, case in ipairs(stores()) do
      local pid, path = holder(case[2], "release", 1.5)
      local s = assert(storage.open(case[2]))
      local none, err = s:lock("release", { wait = 0.3 })
      assert.is_nil(none, case[1])
      assert.matches("the lock release is held by .+@.+ %(pid %d+%) since", tostring(err))
      shell.run("kill -KILL " .. pid)
      os.remove(path)
      local lock = assert(s:lock("release", { wait = 5 }))
      assert(lock:release())
    end
  end)

  -- faketime (libfaketime) sets a process's wall clock an hour off, as another machine's may be.
  it("keeps a lock exclusive when clocks disagree, and frees a killed holder's by the store's clock", function()
    if not shell.run("command -v faketime >/dev/null") then return pending("faketime is not installed (make deps)") end
    local taker, taker_path = lua.script([[
local s = assert(require("essh.storage").open(os.getenv("STORE")))
local lock = s:lock("skew", { wait = tonumber(os.getenv("WAIT")) })
print(lock and "taken" or "refused")
if lock then lock:release() end
]])
    local function take(store, shift, wait)
      return shell.must(("FAKETIME_DONT_FAKE_MONOTONIC=1 STORE=%s WAIT=%s faketime -f %s %s 2>&1"):format(
        shell.quote(store), wait, shift, taker))
    end
    -- A SQLite store is one machine's (its clock is the process's), the others are shared.
    for _, case in ipairs(stores()) do
      if case[1] ~= "sqlite" then
        local pid, path = holder(case[2], "skew", 3)
        -- An hour ahead, the holder's lease looks long over; an hour behind, it looks fresh.
        assert.equal("refused\n", take(case[2], "+1h", 0), case[1])
        assert.equal("refused\n", take(case[2], "-1h", 0), case[1])
        shell.run("kill -KILL " .. pid)
        os.remove(path)
        assert.equal("taken\n", take(case[2], "-1h", 15), case[1])
      end
    end
    os.remove(taker_path)
  end)

  it("counts a value's ttl on the store's clock, whatever the writer's and the reader's say", function()
    if not shell.run("command -v faketime >/dev/null") then return pending("faketime is not installed (make deps)") end
    local script, path = lua.script([[
local s = assert(require("essh.storage").open(os.getenv("STORE")))
if os.getenv("VALUE") then assert(s:set(os.getenv("KEY"), os.getenv("VALUE"), { ttl = 60 })) end
print(s:get(os.getenv("KEY")), #s:keys(os.getenv("KEY")))
]])
    local function run(store, shift, key, value)
      return shell.must(("FAKETIME_DONT_FAKE_MONOTONIC=1 STORE=%s KEY=%s %s faketime -f %s %s 2>&1"):format(
        shell.quote(store), key, value and "VALUE=" .. value or "", shift, script))
    end
    for _, case in ipairs(stores()) do
      if case[1] ~= "sqlite" then
        -- Written an hour behind, read an hour ahead: the minute has not passed on the store.
        assert.equal("v1\t1\n", run(case[2], "-1h", "skewed-1", "v1"), case[1])
        assert.equal("v1\t1\n", run(case[2], "+1h", "skewed-1"), case[1])
        assert.equal("v2\t1\n", run(case[2], "+0", "skewed-2", "v2"), case[1])
        assert.equal("v2\t1\n", run(case[2], "+1h", "skewed-2"), case[1])
        assert.equal("v2\t1\n", run(case[2], "-1h", "skewed-2"), case[1])
        local s = assert(storage.open(case[2]))
        assert.equal(2, s:update("skewed-2", function(old) return old == "v2" and 2 or -1 end), case[1])
      end
    end
    os.remove(path)
  end)

  it("runs a task with lock = \"deploy\" once at a time, naming the holder to a second run", function()
    local code = [[
local essh = require "essh"
essh.task "deploy" { lock = "deploy", script = function()
  io.stdout:write("running\n"); io.stdout:flush()
  essh.runtime.sleep(tonumber(os.getenv("HOLD")))
end }
local report = essh.run("deploy", { stdout = io.stderr })
print(report.ok, report.error)
]]
    local command, path = lua.script(code)
    shell.must(("(HOME=%s HOLD=3 %s > %s/first 2>&1 &)"):format(dir, command, dir))
    for _ = 1, 200 do
      if (fs.read(dir .. "/first") or ""):find("running") then break end
      shell.run("sleep 0.05")
    end
    local second = shell.must(("HOME=%s HOLD=0 %s 2>/dev/null"):format(dir, command))
    assert.matches("^false\ttask deploy: storage: the lock deploy is held by .+@.+ %(pid %d+%) since ", second)
    for _ = 1, 200 do
      if (fs.read(dir .. "/first") or ""):find("\t") then break end
      shell.run("sleep 0.05")
    end
    assert.matches("true\tnil\n$", fs.read(dir .. "/first"))
    assert.matches("\ntrue\tnil\n$", shell.must(("HOME=%s HOLD=0 %s 2>/dev/null"):format(dir, command)))
    os.remove(path)
  end)

  it("opens intact after writers are killed mid-commit", function()
    local store = "sqlite:" .. fs.join(dir, "killed.db")
    local command, path = lua.script(PID .. [[
local s = assert(require("essh.storage").open(os.getenv("STORE")))
local i = 0
while true do i = i + 1; assert(s:set("k" .. (i % 50), { i = i, pad = string.rep("x", 2000) })) end
]])
    local pid_file = fs.join(dir, "writer.pid")
    for _ = 1, 3 do
      os.remove(pid_file)
      shell.must(("(STORE=%s PID_FILE=%s %s >/dev/null 2>&1 &)"):format(shell.quote(store), pid_file, command))
      local pid = pid_in(pid_file)
      shell.run("sleep 0.4")
      shell.run("kill -KILL " .. pid)
      shell.run("sleep 0.05")
    end
    os.remove(path)
    local s = assert(storage.open(store))
    assert.truthy(#assert(s:keys("k")) > 0)
    assert(s:set("after", true))
    assert.is_true(s:get("after"))
  end)
end)
