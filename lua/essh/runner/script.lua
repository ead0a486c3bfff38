--- essh.runner.script: a task's script as a host runs it: rendered through its driver with
--- essh's variables, and the shell command and stdin that carry it to the host's shell.
local template = require "essh.template"
local quote = require("essh.shell").quote
local engine = require "essh.runner.engine"
local debugging = require "essh.debugging"
local ssh_config_file = require "essh.ssh_config_file"

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

--- The ESSH_* variables a script sees, as `NAME=quoted` strings, sorted: essh v3's
--- (ESSH_HOSTNAME and ESSH_HOST_HOSTNAME are the host's essh name, ESSH_HOST_SSH_<KEY> its ssh
--- options, ESSH_SSH_CONFIG the generated ssh_config, ESSH_DEBUG) and ESSH_HOST_NAME.
function M.variables(task, host, args)
  local vars = {
    "ESSH_TASK_NAME=" .. quote(task.name),
    "ESSH_HOST_NAME=" .. quote(host.name),
    "ESSH_HOSTNAME=" .. quote(host.name),
    "ESSH_HOST_HOSTNAME=" .. quote(host.name),
    "ESSH_SSH_CONFIG=" .. quote(ssh_config_file.path() or ""),
    "ESSH_DEBUG=" .. (debugging.on and "1" or '""'),
  }
  local data = engine.host(host)
  for _, pair in ipairs(data and data.SortedSSHConfig or {}) do
    local k, v = next(pair)
    vars[#vars + 1] = "ESSH_HOST_SSH_" .. env_key(k) .. "=" .. quote(v)
  end
  for _, tag in ipairs(host.tags or {}) do vars[#vars + 1] = "ESSH_HOST_TAGS_" .. env_key(tag) .. "=1" end
  for k, v in pairs(host.props or {}) do vars[#vars + 1] = "ESSH_HOST_PROPS_" .. env_key(k) .. "=" .. quote(v) end
  for k, v in pairs(task.props or {}) do vars[#vars + 1] = "ESSH_TASK_PROPS_" .. env_key(k) .. "=" .. quote(v) end
  for i, a in ipairs(args or {}) do vars[#vars + 1] = "ESSH_TASK_ARGS_" .. i .. "=" .. quote(a) end
  table.sort(vars)
  return vars
end

--- The script entries ({code = ..., description = ...}) of a task: its script's, or the
--- content of its script_file (a path, or an http(s) URL fetched once per run).
function M.entries(task, cache)
  if task.script_file == nil then return task.scripts end
  cache = cache or {}
  local path = task.script_file
  if cache[path] == nil then
    if path:match("^https?://") then
      local r, err = require("essh.http").get(path)
      if not r then error(("task %s: script_file %s: %s"):format(task.name, path, tostring(err)), 0) end
      if not r.ok then error(("task %s: script_file %s: HTTP status %d"):format(task.name, path, r.status), 0) end
      cache[path] = r.body
    else
      local text, err = require("essh_native").fs.read(path)
      if not text then error(("task %s: script_file: %s"):format(task.name, tostring(err)), 0) end
      cache[path] = text
    end
  end
  return { { code = cache[path] } }
end

--- The script of a task for a host, rendered through its driver (`cache` keeps fetched
--- script files for the run).
function M.render(registry, task, host, args, cache)
  local entries = M.entries(task, cache) or {}
  local driver = registry:get("driver", task.driver or "default")
  if task.driver and task.driver ~= "default" and not driver then
    error(("task %s: no driver named %s"):format(task.name, task.driver), 0)
  end
  if driver and driver.engine ~= nil then
    return engine.render(driver, task, (not host.is_this_machine) and host or nil,
      { scripts = entries, args = args, debug = debugging.on, ssh_config = ssh_config_file.path() or "" })
  end
  local codes = {}
  for i, e in ipairs(entries) do codes[i] = e.code end
  local script = table.concat(codes, "\n")
  local text = driver and driver.template or DEFAULT_DRIVER
  local vars = { vars = M.variables(task, host, args), script = script, scripts = entries, host = host, task = task,
    props = task.props or {} }
  if type(text) == "function" then return text(vars) end
  local ok, rendered = pcall(template.render, text, vars, "driver " .. (task.driver or "default"))
  if ok then return rendered end
  if driver then error(("%s: %s"):format(rawget(driver, "_where") or "?", tostring(rendered)), 0) end
  error(rendered, 0)
end

-- Runs the script on bash when the host has it, else sh; the script goes over stdin.
local SHELL = "if command -v bash >/dev/null 2>&1; then exec bash -s; else exec sh -s; fi"

-- The shell command line that runs `code` (a command) with bash, else sh.
local function on_shell(code)
  local q = quote(code)
  return ("if command -v bash >/dev/null 2>&1; then exec bash -c %s; else exec sh -c %s; fi"):format(q, q)
end

--- The command and stdin that run `script` on the host's shell. When `data` is given (the
--- runner's stdin fanned out), the script's exact byte count is read first and the script then
--- runs with `data` left on its stdin. With `on_terminal` (a task's pty, whose stdin is the
--- terminal, which never ends) the script is the command's argument, as essh v3 sent it.
function M.command(script, data, on_terminal)
  if on_terminal then return on_shell(script), data end
  if not data then return SHELL, script end
  return on_shell(("s=$(head -c %d) && eval \"$s\""):format(#script)), script .. data
end

return M
