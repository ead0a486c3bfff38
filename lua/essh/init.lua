--- essh: Lua-first SSH automation.
-- `require "essh"` returns this table and sets no globals.
local native = require "essh_native"
local secret = require "essh.secret"

local M = {
  _VERSION = native.version,
  --- The native core (json, yaml, crypto, base64, ...), as `require "essh_native"` returns it.
  native = native,
  json = native.json,
  yaml = native.yaml,
  crypto = native.crypto,
  base64 = native.base64,
  runtime = native.runtime,
  ssh = native.ssh,
  fs = require "essh.fs",
  env = native.env,
  time = native.time,
  http = native.http,
  watch = native.watch,
  process = native.process,
  template = require "essh.template",
  log = require "essh.log",
  inspect = require "essh.inspect",
  --- `essh.secret(value)`: a value that prints as ****** (see essh.secret).
  secret = secret,
}

-- The DSL, bound to essh's default registry (config files and `require "essh.dsl"` use it).
local config = require "essh.config"
local default = config.new()
M.registry = default.registry
M.host, M.task, M.driver, M.group = default.host, default.task, default.driver, default.group
M.hosts, M.select = default.hosts, default.select
M.shell = { quote = require("essh.template").shell_quote }

--- Runs a config file into the default registry; the registry, or nil and a file:line error.
function M.load(path)
  return config.load(path, default.registry)
end

local runner = require "essh.runner"

--- `essh.on(event, fn)`: task_start, host_start, host_done, task_done (see essh.runner).
M.on = runner.on

--- Runs a task (its name or record) on its hosts; returns the report (see essh.runner).
function M.run(task, options)
  default.finish()
  return runner.run(default.registry, task, options)
end

-- Asks for the sudo password on the terminal, without echo; nil when there is no terminal.
local function ask_sudo_password()
  local tty = io.open("/dev/tty", "r")
  if not tty then return nil end
  io.stderr:write("sudo password: ")
  os.execute("stty -echo < /dev/tty 2>/dev/null")
  local password = tty:read("*l")
  os.execute("stty echo < /dev/tty 2>/dev/null")
  io.stderr:write("\n")
  tty:close()
  return password and secret(password) or nil
end

local USAGE = [[
usage: %s TASK [options] [-- args...]
  --dry-run           print what would run, connect to nothing
  --select NAME|TAG   run on these hosts (repeatable) instead of the task's targets
  --filter NAME|TAG   keep only hosts matching every filter (repeatable)
  --parallel N        at most N hosts at once
  --continue          keep going after a host fails
]]

--- Runs the task a command line names and returns the exit code: 0 all ok, 1 a host failed,
--- 2 usage or config error, 3 only unreachable hosts, 130 interrupted.
function M.main(argv)
  argv = argv or {}
  local program = argv[0] or "essh"
  local name, options, select, filter, args = nil, {}, {}, {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--dry-run" then options.dry_run = true
    elseif a == "--continue" then options.on_failure = "continue"
    elseif a == "--select" or a == "--filter" or a == "--parallel" then
      local v = argv[i + 1]
      if not v then io.stderr:write(("%s: %s needs a value\n"):format(program, a)) return 2 end
      if a == "--select" then select[#select + 1] = v
      elseif a == "--filter" then filter[#filter + 1] = v
      else options.parallel = tonumber(v) end
      i = i + 1
    elseif a == "--" then
      for j = i + 1, #argv do args[#args + 1] = argv[j] end
      break
    elseif a:sub(1, 2) == "--" then
      io.stderr:write(("%s: unknown option %s\n"):format(program, a), USAGE:format(program))
      return 2
    elseif not name then name = a
    else args[#args + 1] = a end
    i = i + 1
  end
  if not name then
    io.stderr:write(USAGE:format(program), "tasks:\n")
    for _, t in ipairs(default.registry:list("task")) do
      if not t.hidden then io.stderr:write(("  %-20s %s\n"):format(t.name, t.description or "")) end
    end
    return 2
  end
  local ok_config, config_err = pcall(default.finish)
  if not ok_config then io.stderr:write(program, ": ", tostring(config_err), "\n") return 2 end
  local task = default.registry:get("task", name)
  if not task then io.stderr:write(("%s: no task named %s\n"):format(program, name)) return 2 end
  if #select > 0 then options.select = select end
  if #filter > 0 then options.filter = filter end
  if #args > 0 then options.args = args end
  options.sudo_password = ask_sudo_password
  local ok, report = pcall(runner.run, default.registry, task, options)
  if not ok then
    io.stderr:write(program, ": ", tostring(report), "\n")
    return (type(report) == "userdata" and report.kind == "interrupted") and 130 or 2
  end
  if report.error then io.stderr:write(program, ": ", tostring(report.error), "\n") end
  if report.interrupted then io.stderr:write(program, ": interrupted\n") end
  if next(report.hosts, next(report.hosts)) or not report.ok then runner.summary(report, io.stderr) end
  return runner.exit_code(report)
end

return M
