-- Every field of a DSL definition is checked when the definition is read: a wrong type, a
-- control character or an unknown name is a config error naming file:line, the field, what it
-- must hold and what it holds.
local dsl_of = require "essh.config"
local fs = require "essh.fs"
local runtime = require "essh.runtime"

local function load(text)
  local dir = assert(fs.tempdir())
  local path = fs.join(dir, "esshconfig.lua")
  fs.write(path, text)
  local registry, err = dsl_of.load(path)
  fs.remove(dir, { recursive = true })
  return registry, err
end

-- The error of a config whose second line is `line`.
local function error_of(line)
  local registry, err = load('-- a config\n' .. line .. '\n')
  assert.is_nil(registry, "accepted: " .. line)
  return (err:gsub("^.-esshconfig%.lua:", "esshconfig.lua:"))
end

describe("DSL checks", function()
  it("refuses wrong types of host fields, naming file:line, the field, the expected and the given", function()
    local cases = {
      { 'host "a" { Port = {} }', 'esshconfig.lua:2: host a: Port must be an integer from 1 to 65535, got a table' },
      { 'host "a" { Port = "abc" }', 'host a: Port must be an integer from 1 to 65535, got "abc"' },
      { 'host "a" { Port = 70000 }', 'host a: Port must be an integer from 1 to 65535, got 70000' },
      { 'host "a" { HostName = {} }', 'host a: HostName must be a string, number or boolean' },
      { 'host "a" { description = {} }', 'host a: description must be a string without control characters, got a table' },
      { 'host "a" { tags = { {} } }', 'host a: tags must be a list of names' },
      { 'host "a" { tags = "web" }', 'host a: tags must be a list of names' },
      { 'host "a" { props = { x = {} } }', 'host a: props must be a table of names to strings, numbers or booleans' },
      { 'host "a" { hidden = "yes" }', 'host a: hidden must be true or false, got "yes"' },
      { 'host "a" { before_connect = 5 }', 'host a: hooks_before_connect must be a command' },
      { 'host "a" { init = "x" }', 'host a: init must be a function, got "x"' },
      { 'host "a" { ConnectTimeout = -1 }', 'host a: ConnectTimeout must be a whole number (0 or more), got -1' },
    }
    for _, case in ipairs(cases) do
      local err = error_of(case[1])
      assert.truthy(err:find(case[2], 1, true), err)
    end
    assert.truthy(error_of('host "a" { Port = {} }'):find('esshconfig.lua:2: host a: Port', 1, true))
  end)

  it("refuses wrong types of task fields", function()
    local cases = {
      { 'task "t" { targets = 5, script = "true" }', 'task t: targets must be a host name or tag or a list of them, got 5' },
      { 'task "t" { parallel = "lots", script = "true" }',
        'task t: parallel must be true, false or a whole number above 0, got "lots"' },
      { 'task "t" { parallel = 0, script = "true" }', 'task t: parallel must be true, false or a whole number above 0, got 0' },
      { 'task "t" { on_failure = "sometimes", script = "true" }',
        'task t: on_failure must be "abort", "continue" or a percentage' },
      { 'task "t" { timeout = "soon", script = "true" }', 'task t: timeout must be a number above 0, got "soon"' },
      { 'task "t" { script = 42 }',
        'task t: script must be a script %(a string%), a list of scripts, { code = ... } or a Lua function, got 42' },
      { 'task "t" { env = { A = {} }, script = "true" }', 'task t: env must be a table of variable names to strings or numbers' },
      { 'task "t" { backend = "cloud", script = "true" }', 'task t: backend must be one of "remote", "local", got "cloud"' },
      { 'task "t" { description = 1, script = "true" }',
        'task t: description must be a string without control characters, got 1' },
      { 'driver "d" { template = 5 }', 'driver d: template must be a template %(a string%) or a function, got 5' },
      { 'driver "d" { template = "x", [1] = 1 }', "driver d: unexpected number key" },
      { 'driver "d" { color = "x" }', "driver d: a template %(or essh v3's engine%) is required" },
      -- Go parses a template's calls with it; gotmpl alone finds a missing function only when it runs.
      { 'task "t" { prefix = "[{{ host.name }}]", script = "true" }', 'esshconfig.lua:2: task t: prefix must be a Go '
        .. 'template that parses %(template: prefix:1:5: function "host" not defined%), got "%[{{ host.name }}%]"' },
      { 'task "t" { prefix = "{{ if }}", script = "true" }', 'task t: prefix must be a Go template that parses %(template: '
        .. 'prefix:1:9: empty command%)' },
      { 'driver "d" { engine = "{{range .Scripts}}{{.code | Quote}}{{end}}" }', 'esshconfig.lua:2: driver d: its engine '
        .. 'does not parse: template: driver d:1:29: function "Quote" not defined' },
      { [[driver "d" { engine = '{{HostnameAlignString " "}}' }]], 'function "HostnameAlignString" not defined' },
      { 'driver "d" { template = "{% if x %}{{ script }}" }', 'esshconfig.lua:2: driver d: its template does not parse: '
        .. 'driver d:1: {%% if %%} is never closed' },
      { 'task "t" { driver = "nosuch", script = "true" }', "task t: no driver named nosuch" },
      { 'group { Port = "x", host "a" {} }', 'group: Port must be an integer from 1 to 65535, got "x"' },
      { 'group { 5 }', 'group: members must be hosts, tasks, drivers or groups, got 5' },
      { 'group { host "a" {}, task "b" "true" }', 'group: a group holds one kind of definition' },
      { 'group { colour = "red" }', "group: unknown field 'colour'" },
    }
    for _, case in ipairs(cases) do assert.matches(case[2], error_of(case[1])) end
  end)

  it("refuses names and values that could change the structure of what essh writes", function()
    assert.matches('esshconfig.lua:2: host "web1\\n  ProxyCommand touch /tmp/x #": its name must be a non%-empty string',
      error_of('host "web1\\n  ProxyCommand touch /tmp/x #" { HostName = "127.0.0.1" }'))
    assert.matches('host a: HostName must be a string, number or boolean %(strings without control characters%), '
      .. 'got "10.0.0.1\\n  ProxyCommand x"', error_of('host "a" { HostName = "10.0.0.1\\n  ProxyCommand x" }'))
    assert.matches('host a: tags must be a list of names', error_of('host "a" { tags = { "web\\nx" } }'))
    assert.matches('host "a b": its name must be', error_of('host "a b" {}'))
    assert.matches('host "web%*": its name must be', error_of('host "web*" {}'))
    assert.matches('task "t.-": its name must be', error_of('task "t\\r" { script = "true" }'))
    assert.matches('host a: User must be', error_of('host "a" { User = "root\\n  Host *" }'))
    -- An assignment after the definition is checked too, at the line that makes it.
    assert.matches('esshconfig.lua:3: host a: HostName must be',
      error_of('local h = host "a" {}\nh.HostName = "x\\ny"'))
  end)

  it("accepts what the documented configs use", function()
    assert(load([[
group { User = "deploy", Port = "2222", IdentityFile = { "~/.ssh/a", "~/.ssh/b" },
  host "web1" { HostName = "10.0.0.5", tags = { "web", "production" }, props = { role = "app", n = 2 } },
  host "web2" { Hostname = 10, ForwardAgent = true, ConnectTimeout = "5" },
}
task "t" { targets = { "web" }, filters = "production", parallel = 10, on_failure = 30, timeout = 0.5,
  env = { A = "x", B = 2 }, args = { "a", 1 }, prefix = "{{ .Host.Name }}{{ HostnameAlignString \" \" }}",
  script = { "echo 1", "echo 2" } }
task "u" { parallel = true, prefix = false, script = function() end, prepare = function() end, stdin = true }
driver "d" { template = "{{ script }}" }
]]))
  end)

  it("names the definition's file:line when a template fails on a run's data", function()
    local runner = require "essh.runner"
    local registry = assert(load([[
task "p" { prefix = "{{ index .Task.Args 3 }}", script = "true" }
driver "go" { engine = "{{ index .Task.Args 2 }}" }
driver "lua" { template = "{{ host.name.x.y }}" }
task "g" { driver = "go", script = "true" }
task "l" { driver = "lua", script = "true" }
]]))
    local quiet = { write = function() end }
    local expected = {
      p = "esshconfig.lua:1: task p: its prefix: template: prefix of task p: execution error: ",
      g = "esshconfig.lua:2: template: driver go: execution error: ",
      l = "esshconfig.lua:3: driver lua:1: attempt to index ",
    }
    for name, message in pairs(expected) do
      local ok, err = pcall(runner.run, registry, registry:get("task", name), { dry_run = true, stdout = quiet,
        stderr = quiet })
      assert.is_false(ok, name)
      assert.truthy(tostring(err):find(message, 1, true), tostring(err))
    end
  end)

  it("defines and lists 10,000 hosts, tagged, and keeps the tag index right when tags change", function()
    local dsl = dsl_of.new()
    local t0 = runtime.monotonic()
    for i = 1, 10000 do
      dsl.host("h" .. i, { HostName = "10.0." .. (i % 250) .. ".1", tags = { "fleet", "rack" .. (i % 40) } })
    end
    local hosts = dsl.hosts("rack7")
    local elapsed = runtime.monotonic() - t0
    assert.equal(250, #hosts)
    assert.is_true(elapsed < 5, ("10,000 hosts took %.2f s"):format(elapsed))   -- 20-29 s for 5,000 before
    -- A tag given after the definition still keeps a host from taking its name.
    dsl.registry:get("host", "h1").tags = { "late" }
    assert.has_error(function() dsl.host("late", {}) end)
    table.insert(dsl.registry:get("host", "h2").tags, "in-place")
    dsl.host("in-place", {})
    assert.has_error(function() dsl.finish() end)
  end)
end)
