--- essh: Lua-first SSH automation.
-- `require "essh"` returns this table and sets no globals.
local native = require "essh_native"
local secret = require "essh.secret"

local M = {
  _VERSION = native.version,
  --- The native core (json, yaml, crypto, base64, ...), as `require "essh_native"` returns it.
  native = native,
  --- `essh.secret(value)`: a value that prints as ****** (see essh.secret).
  secret = secret,
}

-- essh.json, essh.fs, essh.template ...: each module as `require "essh.<name>"` gives it,
-- loaded the first time it is used.
local MODULES = {}
for _, name in ipairs(require("essh.modules").names()) do MODULES[name] = true end

-- The DSL, bound to essh's default registry (config files and `require "essh.dsl"` use it).
local config = require "essh.config"
local default = config.new()
M.registry = default.registry
M.host, M.task, M.driver, M.group = default.host, default.task, default.driver, default.group
M.hosts, M.select, M.command = default.hosts, default.select, default.command
M.inventory = default.inventory

-- essh v3's entries: version, debug(msg), select_hosts(...), current_registry(), and
-- ssh_config (the generated ssh_config's path, which a program may set).
local v3, index, newindex = config.v3_entries(default, {})
for k, v in pairs(v3) do M[k] = v end
setmetatable(M, { __index = function(t, k)
  if MODULES[k] then
    local module = require("essh." .. k)
    rawset(t, k, module)
    return module
  end
  return index(t, k)
end, __newindex = newindex })

--- Runs a config file into the default registry; the registry, or nil and a file:line error.
function M.load(path)
  return config.load(path, default.registry)
end

-- The runner is loaded on first use: a program that only uses the modules does not pay for it.

--- `essh.on(event, fn)`: task_start, host_start, host_status, host_done, task_done (see
--- essh.runner.events).
function M.on(event, fn)
  return require("essh.runner").on(event, fn)
end

--- Runs a task (its name or record) on its hosts; returns the report (see essh.runner).
function M.run(task, options)
  default.finish()
  return require("essh.runner").run(default.registry, task, options)
end

--- Runs the command line `argv` like the essh command does, on the hosts and tasks this
--- program defined (no config files are loaded), and returns the exit code: 0 all ok, 1 a host
--- failed, 2 usage or config error, 3 only unreachable hosts, 130 interrupted.
function M.main(argv)
  local ok, err = pcall(default.finish)
  if not ok then
    io.stderr:write((argv and argv[0] or "essh"), ": ", tostring(err), "\n")
    return 2
  end
  return require("essh.cli").main(argv, { registry = default.registry })
end

return M
