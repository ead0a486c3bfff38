-- Failure policies, timeouts and the report, on hosts whose work goes through the local
-- connection: no server, each spec well under a second.
local config = require "essh.config"
local runner = require "essh.runner"
local fs = require "essh.fs"

local function quiet() return { write = function() end } end

describe("failure policies, on hosts of the local connection", function()
  local dsl

  -- Hosts h1..hN on this machine; the listed ones fail their script.
  local function fleet(n, failing)
    dsl = config.new()
    for i = 1, n do dsl.host("h" .. i, { connection = "local", tags = { "all" } }) end
    local fails = {}
    for _, name in ipairs(failing) do fails[#fails + 1] = '[ "$ESSH_HOST_NAME" != ' .. name .. ' ]' end
    return table.concat(fails, " && ")
  end

  local function run(spec, options)
    spec.targets = spec.targets or "all"
    if spec.backend == nil then spec.backend = "remote" end
    local name = spec.name or "t"
    spec.name = nil
    local t = dsl.task(name, spec)
    options = options or {}
    options.stdout, options.stderr = options.stdout or quiet(), quiet()
    return runner.run(dsl.registry, t, options)
  end

  it("abort: the first failure starts no new host, and the others are skipped", function()
    local script = fleet(4, { "h2" })
    local report = run({ script = script, parallel = 1 })
    assert.is_false(report.ok)
    assert.equal("ok", report.hosts.h1.status)
    assert.same({ "h2" }, report.failed)
    assert.same({ "h3", "h4" }, report.skipped)
    assert.equal(1, report.hosts.h2.exitStatus)
    assert.equal(1, runner.exit_code(report))
  end)

  it("continue: every host runs and each failure is reported", function()
    local script = fleet(4, { "h1", "h3" })
    local report = run({ script = script, parallel = 1, on_failure = "continue" })
    assert.same({ "h1", "h3" }, report.failed)
    assert.same({}, report.skipped)
    assert.equal("ok", report.hosts.h4.status)
  end)

  it("a percentage stops once more than that share of the hosts has failed", function()
    local script = fleet(4, { "h1", "h2" })
    local report = run({ script = script, parallel = 1, on_failure = 30 })
    assert.same({ "h1", "h2" }, report.failed)   -- 25% is not above 30%, 50% is
    assert.same({ "h3", "h4" }, report.skipped)
  end)

  it("the run's on_failure wins over the task's", function()
    local script = fleet(3, { "h1" })
    local report = run({ script = script, parallel = 1, on_failure = "abort" }, { on_failure = "continue" })
    assert.same({ "h1" }, report.failed)
    assert.same({}, report.skipped)
  end)

  it("fails a host that outlives the task's timeout, and lets the others finish", function()
    fleet(2, {})
    local report = run({ script = '[ "$ESSH_HOST_NAME" = h1 ] && sleep 5; true', parallel = true, timeout = 0.3,
      on_failure = "continue" })
    assert.same({ "h1" }, report.failed)
    assert.equal("timeout", report.hosts.h1.error.kind)
    assert.equal("ok", report.hosts.h2.status)
    assert.is_true(report.duration < 3)
  end)

  it("fails the host whose Lua script raises, with the error it raised", function()
    fleet(2, {})
    local report = run({ parallel = true, on_failure = "continue", script = function(t)
      if t.host.name == "h2" then error("no luck on " .. t.host.name, 0) end
      assert(t:run("true").ok)
    end })
    assert.same({ "h2" }, report.failed)
    assert.equal("no luck on h2", report.hosts.h2.error)
    assert.equal("ok", report.hosts.h1.status)
  end)

  it("reports an unreachable host apart from failed ones, with exit code 3 when none failed", function()
    fleet(1, {})
    dsl.host("gone", { HostName = "127.0.0.1", Port = 1, tags = { "all" } })
    local report = run({ script = "true", parallel = true })
    assert.same({ "gone" }, report.unreachable)
    assert.same({}, report.failed)
    assert.equal("ok", report.hosts.h1.status)
    assert.equal("network", report.hosts.gone.error.kind)
    assert.matches("gone", tostring(report.hosts.gone.error))
    assert.equal(3, runner.exit_code(report))
  end)

  it("runs each host's script on this machine with the host's variables, output prefixed", function()
    fleet(2, {})
    local lines = {}
    local out = { write = function(_, ...) lines[#lines + 1] = table.concat({ ... }) end }
    local report = run({ script = "echo $ESSH_HOST_NAME", parallel = 1 }, { stdout = out })
    assert.is_true(report.ok)
    assert.same({ "[h1] h1\n", "[h2] h2\n" }, lines)
  end)

  it("copies files for task:upload, task:download and task:template", function()
    fleet(1, {})
    local dir = assert(fs.tempdir("essh-local"))
    assert(fs.write(dir .. "/src", "payload"))
    assert(fs.write(dir .. "/tpl", "host {{ host.name }}"))
    local report = run({ script = function(t)
      assert.equal(7, t:upload(dir .. "/src", dir .. "/up", { mode = 384 }))
      assert.equal(7, t:download(dir .. "/up", dir .. "/down"))
      t:template(dir .. "/tpl", dir .. "/rendered")
    end })
    assert.is_true(report.ok, tostring(report.hosts.h1.error))
    assert.equal("payload", fs.read(dir .. "/down"))
    assert.equal(384, fs.stat(dir .. "/up").mode)
    assert.equal("host h1", fs.read(dir .. "/rendered"))
    fs.remove(dir, { recursive = true })
  end)

  it("fails with exit code 2, saying what matched nothing, when no host matches", function()
    fleet(2, {})
    local ran = false
    local report = run({ targets = "h1", filters = "nothing-has-this", script = function() ran = true end })
    assert.is_false(report.ok)
    assert.is_true(report.empty)
    assert.equal("task t: no host matches h1 filtered by nothing-has-this", report.error)
    assert.equal(2, runner.exit_code(report))
    assert.is_false(ran)
    report = run({ name = "u", targets = "all", script = "true" }, { select = { "nobody" } })
    assert.equal("task u: no host matches nobody", report.error)
  end)

  it("refuses a connection kind it does not know when the host is defined, naming file:line", function()
    dsl = config.new()
    local ok, err = pcall(function() dsl.host("odd", { connection = "carrier-pigeon" }) end)
    assert.is_false(ok)
    assert.matches('failure_policy_spec%.lua:%d+: host odd: connection must be one of "ssh", "local", '
      .. 'got "carrier%-pigeon"', err)
  end)
end)
