-- Fuzzes the DSL: random field names, types and values in host, task, group and driver
-- definitions. Loading must either succeed or fail with a config error naming the config's
-- file:line, never with an error from inside essh; what loads must list, print as ssh_config
-- and dry-run, or fail there with such an error. ESSH_FUZZ_SEED sets the seed (a fixed one by default, so that a test run is
-- repeatable; `make fuzz` tries fresh ones), ESSH_FUZZ_CASES how many configs it tries.
local dsl_of = require "essh.config"
local fs = require "essh.fs"
local runner = require "essh.runner"
local env = require "essh.env"

local SEED = tonumber(env.get("ESSH_FUZZ_SEED") or "") or 1796642133
local CASES = tonumber(env.get("ESSH_FUZZ_CASES") or "") or 1500

local HOST_FIELDS = { "HostName", "hostname", "HOSTNAME", "User", "Port", "port", "IdentityFile", "ProxyJump",
  "ConnectTimeout", "ServerAliveInterval", "StrictHostKeyChecking", "UserKnownHostsFile", "ForwardAgent",
  "LocalForward", "SendEnv", "HashKnownHosts", "description", "hidden", "tags", "Tags", "props", "init",
  "before_connect", "after_connect", "after_disconnect", "override", "connection", "Nope", "nope", "" }
local TASK_FIELDS = { "description", "hidden", "disabled", "targets", "filters", "backend", "parallel", "prefix",
  "privileged", "user", "env", "props", "args", "driver", "timeout", "on_failure", "prepare", "script",
  "override", "stdin", "Script", "target", "nope" }

local random = math.random

local function pick(list) return list[random(#list)] end

-- A Lua expression for a random value, nested at most `depth` more levels.
local function value(depth)
  local kinds = { "string", "string", "number", "boolean", "table", "function", "list", "nil" }
  local kind = pick(kinds)
  if kind == "string" then
    return ("%q"):format(pick { "web", "", "a b", "x\ny", "10.0.0.1", "*", "22", "abc", "yes", "no", "local",
      "ssh", "remote", "continue", "abort", "{{ host.name }}", "{{ .Host.Name }}", "{{ if }}",
      "{{ index .Task.Args 3 }}", "{% if x %}", "é", "\t", "#", "!" })
  elseif kind == "number" then
    return pick { "0", "-1", "1", "22", "70000", "1.5", "1e9", "100", "0.01", "(0/0)", "math.huge" }
  elseif kind == "boolean" then
    return pick { "true", "false" }
  elseif kind == "function" then
    return pick { "function() end", "function(h) h.User = {} end", "function() error('boom') end",
      "function(h) h.tags = { 'late' } end", "function() return false end" }
  elseif kind == "nil" then
    return "nil"
  elseif depth <= 0 then
    return "{}"
  elseif kind == "list" then
    local items = {}
    for i = 1, random(0, 3) do items[i] = value(depth - 1) end
    return "{ " .. table.concat(items, ", ") .. " }"
  else
    local items = {}
    for _ = 1, random(0, 3) do
      items[#items + 1] = ("[%s] = %s"):format(pick { '"a"', '"B"', "1", "2.5", "true" }, value(depth - 1))
    end
    return "{ " .. table.concat(items, ", ") .. " }"
  end
end

local function fields(names)
  local parts = {}
  for _ = 1, random(0, 5) do
    parts[#parts + 1] = ("[%q] = %s"):format(pick(names), value(2))
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function name()
  return ("%q"):format(pick { "web1", "web2", "db", "web", "a b", "x\ny", "", "h*", "t", "deploy", "fleet" })
end

-- One random definition, as a line of a config.
local function definition()
  local kind = random(6)
  if kind <= 2 then
    return ("host %s %s"):format(name(), fields(HOST_FIELDS))
  elseif kind == 3 then
    return ("task %s %s"):format(name(), fields(TASK_FIELDS))
  elseif kind == 4 then
    return ("task(%s, %s)"):format(name(), value(1))
  elseif kind == 5 then
    return ("group { [%q] = %s, host %s %s }"):format(pick(HOST_FIELDS), value(1), name(), fields(HOST_FIELDS))
  else
    return ("driver %s (%s)"):format(name(), pick { value(1), '{ template = "{{ script }}" }', "{ template = 5 }" })
  end
end

local function quiet() return { write = function() end } end

-- `err` names the config's file:line, and no line of essh's own.
local function assert_config_error(err, context)
  assert.matches("esshconfig%.lua:%d+: ", err, nil, false, context)
  assert.is_nil(err:find("lua/essh/", 1, true), "an error from inside essh: " .. context)
end

describe("the DSL under random definitions", function()
  it(("fails only with config errors naming file:line (seed %d, %d configs)"):format(SEED, CASES), function()
    math.randomseed(SEED)
    local dir = assert(fs.tempdir("essh-dsl-fuzz"))
    local path = fs.join(dir, "esshconfig.lua")
    local loaded, refused = 0, 0
    for case = 1, CASES do
      local lines = {}
      for i = 1, random(1, 4) do lines[i] = definition() end
      local text = table.concat(lines, "\n") .. "\n"
      assert(fs.write(path, text))
      local ok, registry, err = pcall(dsl_of.load, path)
      assert.is_true(ok, ("case %d raised %s:\n%s"):format(case, tostring(registry), text))
      if registry then
        loaded = loaded + 1
        local cli_ok, cli_err = pcall(function()
          local flags = { select = {}, filter = {}, all = true }
          require("essh.cli.hosts").command(registry, flags, quiet())
          require("essh.cli.tasks").command(registry, flags, quiet())
          require("essh.cli.tags").command(registry, flags, quiet())
          require("essh.cli.print").command(registry, flags, quiet())
          for _, t in ipairs(registry:list("task")) do
            runner.run(registry, t, { dry_run = true, stdout = quiet(), stderr = quiet() })
          end
        end)
        -- What fails only with the run's data (a template's index out of range) is a config error too.
        if not cli_ok then
          assert_config_error(tostring(cli_err), ("case %d: listing, printing or a dry run raised %s:\n%s"):format(case,
            tostring(cli_err), text))
        end
      else
        refused = refused + 1
        assert_config_error(err, ("case %d:\n%s"):format(case, text))
      end
    end
    fs.remove(dir, { recursive = true })
    assert.is_true(loaded > 0 and refused > 0, ("loaded %d, refused %d"):format(loaded, refused))
  end)
end)
