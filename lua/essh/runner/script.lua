--- essh.runner.script: a task's script as a host runs it: rendered through its driver with
--- essh's variables, and the shell command and stdin that carry it to the host's shell.
local template = require "essh.template"
local quote = require("essh.shell").quote

local M = {}

-- The built-in driver: essh's variables, `set -e`, then the task's script.
local DEFAULT_DRIVER = [[
set -e
{% for _, v in ipairs(vars) %}export {{ v }}
{% end %}{{ script }}
]]

local function env_key(s)
  return tostring(s):upper():gsub("[%-%.]", "_"):gsub("[^%w_]", "_")
end

--- The ESSH_* variables a script sees, as `NAME=quoted` strings, sorted.
function M.variables(task, host, args)
  local vars = {
    "ESSH_TASK_NAME=" .. quote(task.name),
    "ESSH_HOST_NAME=" .. quote(host.name),
    "ESSH_HOSTNAME=" .. quote(host.HostName or host.name),
  }
  for _, tag in ipairs(host.tags or {}) do vars[#vars + 1] = "ESSH_HOST_TAGS_" .. env_key(tag) .. "=1" end
  for k, v in pairs(host.props or {}) do vars[#vars + 1] = "ESSH_HOST_PROPS_" .. env_key(k) .. "=" .. quote(v) end
  for k, v in pairs(task.props or {}) do vars[#vars + 1] = "ESSH_TASK_PROPS_" .. env_key(k) .. "=" .. quote(v) end
  for i, a in ipairs(args or {}) do vars[#vars + 1] = "ESSH_TASK_ARGS_" .. i .. "=" .. quote(a) end
  table.sort(vars)
  return vars
end

--- The script of a task for a host, rendered through its driver.
function M.render(registry, task, host, args)
  local script = task.script
  if type(script) == "table" then script = table.concat(script, "\n") end
  local driver = registry:get("driver", task.driver or "default")
  local text = driver and driver.template or DEFAULT_DRIVER
  local vars = { vars = M.variables(task, host, args), script = script, host = host, task = task,
    props = task.props or {} }
  if type(text) == "function" then return text(vars) end
  return template.render(text, vars, "driver " .. (task.driver or "default"))
end

-- Runs the script on bash when the host has it, else sh; the script goes over stdin.
local SHELL = "if command -v bash >/dev/null 2>&1; then exec bash -s; else exec sh -s; fi"

--- The command and stdin that run `script` on the host's shell. When `data` is given (the
--- runner's stdin fanned out), the script's exact byte count is read first and the script then
--- runs with `data` left on its stdin.
function M.command(script, data)
  if not data then return SHELL, script end
  local boot = quote(("s=$(head -c %d) && eval \"$s\""):format(#script))
  return ("if command -v bash >/dev/null 2>&1; then exec bash -c %s; else exec sh -c %s; fi"):format(boot, boot),
    script .. data
end

return M
