--- essh.runner: runs a task on its hosts. One connection per host, hosts as tasks of the native
--- scheduler (capped by `parallel`), live output prefixed per host and never interleaved
--- mid-line, a failure policy, and a report of every host.
local native = require "essh_native"
local query = require "essh.query"
local template = require "essh.template"
local shell_quote = template.shell_quote

local ssh, runtime, process = native.ssh, native.runtime, native.process
local secret = require "essh.secret"

local M = {}

local DEFAULT_PARALLEL = 32

local EVENTS = { task_start = true, host_start = true, host_done = true, task_done = true }
local listeners = { task_start = {}, host_start = {}, host_done = {}, task_done = {} }

--- Calls `fn` on an event: task_start(task), host_start(task, host), host_done(task, host,
--- entry), task_done(task, report). For logging, notifications and custom reports.
function M.on(event, fn)
  if not EVENTS[event] then error(("essh.on: unknown event '%s'"):format(tostring(event)), 2) end
  if type(fn) ~= "function" then error("essh.on: a function is required", 2) end
  local list = listeners[event]
  list[#list + 1] = fn
  return function()
    for i, f in ipairs(list) do
      if f == fn then table.remove(list, i) return end
    end
  end
end

local function emit(event, ...)
  for _, fn in ipairs(listeners[event]) do fn(...) end
end

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
    "ESSH_TASK_NAME=" .. shell_quote(task.name),
    "ESSH_HOST_NAME=" .. shell_quote(host.name),
    "ESSH_HOSTNAME=" .. shell_quote(host.HostName or host.name),
  }
  for _, tag in ipairs(host.tags or {}) do vars[#vars + 1] = "ESSH_HOST_TAGS_" .. env_key(tag) .. "=1" end
  for k, v in pairs(host.props or {}) do vars[#vars + 1] = "ESSH_HOST_PROPS_" .. env_key(k) .. "=" .. shell_quote(v) end
  for k, v in pairs(task.props or {}) do vars[#vars + 1] = "ESSH_TASK_PROPS_" .. env_key(k) .. "=" .. shell_quote(v) end
  for i, a in ipairs(args or {}) do vars[#vars + 1] = "ESSH_TASK_ARGS_" .. i .. "=" .. shell_quote(a) end
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

--- The command and stdin that run `script` through SHELL, as another user when `as_user` is
--- set: `sudo -n` when sudo needs no password, else `sudo -S` with the password as the first
--- line of stdin (never on a command line). `exec` runs a command on the host;
--- `password()` gives the sudo password, asked at most once per run.
local function shell_command(script, as_user, exec, password)
  if not as_user then return SHELL, script end
  local sudo = "sudo -u " .. shell_quote(as_user)
  local probe = exec(sudo .. " -n true")
  if probe and probe.ok then return sudo .. " -n sh -c " .. shell_quote(SHELL), script end
  local pw = password()
  if not pw then
    error(("sudo needs a password here: give sudo_password (or answer the prompt of essh.main)"), 0)
  end
  return sudo .. " -S -p '' sh -c " .. shell_quote(SHELL), secret.reveal(pw) .. "\n" .. script
end

--- A writer of whole lines, each prefixed; lines of different hosts never mix.
local function line_writer(stream, prefix)
  return function(line) stream:write(prefix, line, "\n") end
end

local Context = {}
Context.__index = Context

-- The result of a call, or its error raised (a structured error: it carries no position).
local function checked(result, err)
  if result == nil then error(err, 0) end
  return result
end

--- Runs a command on the current host (locally for local tasks); `{exitStatus, stdout, stderr, ok}`.
function Context:run(command, options)
  if self.session then return checked(self.session:exec(command, options)) end
  return checked(process.run(command, options))
end

function Context.run_local(_, command, options)
  return checked(process.run(command, options))
end

function Context:upload(src, dst, options)
  if not self.session then error("task:upload needs a remote host", 2) end
  return checked(self.session:upload(src, dst, options))
end

function Context:download(src, dst, options)
  if not self.session then error("task:download needs a remote host", 2) end
  return checked(self.session:download(src, dst, options))
end

--- Renders the template file `src` with `vars` (and host, task) and writes it to `dst` on the host.
function Context:template(src, dst, vars)
  local all = { host = self.host, task = self.task }
  for k, v in pairs(vars or {}) do all[k] = v end
  local text = template.render_file(src, all)
  if self.session then
    checked(checked(self.session:sftp()):write(dst, text))
  else
    checked(require("essh.fs").write(dst, text))
  end
end

-- Runs a host hook: a function gets (host, task context); a string is a command, run on the
-- host when `session` is given, else on this machine. Raises when it fails.
local function run_hook(hook, host, ctx, session)
  if hook == nil then return end
  if type(hook) == "function" then return hook(host, ctx) end
  local r, err
  if session then r, err = session:exec(hook) else r, err = process.run(hook) end
  if not r then error(err, 0) end
  if not r.ok then error(("hook `%s` failed with exit status %s: %s"):format(hook, tostring(r.exitStatus), r.stderr), 0) end
end

local function local_host()
  return { name = "localhost", HostName = "localhost", tags = {}, props = {}, matches = function() return false end }
end

--- Runs `task` (a task record or name) of `registry`. Options: select, filter, parallel, dry_run,
--- args, on_failure, sudo_password (a string, a secret, or a function asked once when a host's
--- sudo needs it), stdout, stderr (writers; default io.stdout, io.stderr).
--- Returns the report { ok, hosts = { [name] = {status, ok, exitStatus, error, duration} },
--- failed, unreachable, duration }.
function M.run(registry, task, options)
  options = options or {}
  if type(task) == "string" then
    local found = registry:get("task", task)
    if not found then error(("no task named %s"):format(task), 2) end
    task = found
  end
  local started = runtime.monotonic()
  local out, err_out = options.stdout or io.stdout, options.stderr or io.stderr
  local args = options.args or task.args or {}
  local report = { ok = true, hosts = {}, failed = {}, unreachable = {}, skipped = {} }

  local hosts
  if task.backend == "remote" then
    local q = query.new(registry, options.select or task.targets)
    if task.filters then q = q:filter(task.filters) end
    if options.filter then q = q:filter(options.filter) end
    hosts = q:list()
  else
    hosts = { local_host() }
  end

  emit("task_start", task)
  if task.prepare then
    local ctx = setmetatable({ task = task, host = local_host(), args = args, name = task.name }, Context)
    local ok, result = runtime.pcall(task.prepare, ctx)
    if not ok or result == false then
      report.ok = false
      report.error = ok and ("task %s: prepare returned false"):format(task.name) or tostring(result)
      report.duration = runtime.monotonic() - started
      return report
    end
  end

  local width = 0
  for _, h in ipairs(hosts) do width = math.max(width, #h.name) end
  local use_prefix = task.prefix ~= false and (#hosts > 1 or task.prefix)
  local function prefix_of(host)
    if not use_prefix then return "" end
    if type(task.prefix) == "string" then return template.render(task.prefix, { host = host, task = task }) end
    return ("[%s]%s "):format(host.name, (" "):rep(width - #host.name))
  end

  if options.dry_run then
    for _, host in ipairs(hosts) do
      local p = prefix_of(host)
      if type(task.script) == "function" then
        out:write(p, "(a Lua function: runs when the task runs)\n")
      elseif task.script then
        for line in (M.render(registry, task, host, args) .. "\n"):gmatch("(.-)\n") do out:write(p, line, "\n") end
      end
      report.hosts[host.name] = { status = "dry-run", ok = true }
    end
    report.duration = runtime.monotonic() - started
    return report
  end

  -- The sudo password, asked once per run and only when a host needs it.
  local asked, password_value = false, nil
  local function sudo_password()
    if not asked then
      asked = true
      password_value = options.sudo_password
      if type(password_value) == "function" then password_value = password_value() end
    end
    return password_value
  end

  local policy = options.on_failure or task.on_failure or "abort"
  local failures, stopped = 0, false

  -- One host's work: connect (with hooks), run the script, disconnect. Raises on failure.
  local function work(host, entry)
    local session
    local ctx = setmetatable({ task = task, host = host, args = args, name = task.name }, Context)
    if task.backend == "remote" then
      run_hook(host.before_connect, host, ctx)
      local s, err = ssh.connect(host:connect_options())
      if not s then
        entry.status, entry.ok, entry.error = "unreachable", false, err
        return
      end
      session = s
      ctx.session = s
    end
    local ok, failure = runtime.pcall(function()
      if session then run_hook(host.after_connect, host, ctx, session) end
      local p = prefix_of(host)
      if type(task.script) == "function" then
        task.script(ctx)
      elseif task.script then
        local text = M.render(registry, task, host, args)
        local function exec(command, opts)
          if session then return session:exec(command, opts) end
          return process.run(command, opts)
        end
        local as_user = task.user or (task.privileged and "root") or nil
        local command, stdin = shell_command(text, as_user, exec, sudo_password)
        local r, e = exec(command, { stdin = stdin, lines = true, on_stdout = line_writer(out, p),
          on_stderr = line_writer(err_out, p), env = task.env })
        if not r then error(e, 0) end
        entry.exitStatus = r.exitStatus
        if not r.ok then error(("exit status %s"):format(tostring(r.exitStatus or r.signal)), 0) end
      end
    end)
    if session then
      session:close()
      run_hook(host.after_disconnect, host, ctx)
    end
    if not ok then error(failure, 0) end
  end

  local function job(host)
    return function()
      local entry = { status = "ok", ok = true }
      report.hosts[host.name] = entry
      if stopped then
        entry.status, entry.ok = "skipped", false
        report.skipped[#report.skipped + 1] = host.name
        return
      end
      emit("host_start", task, host)
      local t0 = runtime.monotonic()
      local ok, failure
      if task.timeout then
        local done, err = runtime.timeout(task.timeout, function() work(host, entry) return true end)
        ok, failure = done == true, err
      else
        ok, failure = runtime.pcall(work, host, entry)
      end
      entry.duration = runtime.monotonic() - t0
      if entry.status == "unreachable" then
        report.unreachable[#report.unreachable + 1] = host.name
      elseif not ok then
        entry.status, entry.ok, entry.error = "failed", false, failure
        report.failed[#report.failed + 1] = host.name
        failures = failures + 1
        if policy == "abort" then
          stopped = true
        elseif type(policy) == "number" and failures * 100 / #hosts > policy then
          stopped = true
        end
      end
      emit("host_done", task, host, entry)
    end
  end

  local jobs = {}
  for i, host in ipairs(hosts) do jobs[i] = job(host) end
  local limit = task.parallel == true and DEFAULT_PARALLEL or (tonumber(task.parallel) or 1)
  if options.parallel then limit = options.parallel == true and DEFAULT_PARALLEL or tonumber(options.parallel) end
  local results = runtime.parallel(jobs, { limit = math.max(1, limit) })
  for i, r in ipairs(results) do
    if r[1] == nil and r[2] ~= nil then
      local entry = report.hosts[hosts[i].name]
      entry.status, entry.ok, entry.error = "failed", false, r[2]
      report.failed[#report.failed + 1] = hosts[i].name
    end
  end
  report.ok = #report.failed == 0 and #report.unreachable == 0 and #report.skipped == 0
  report.duration = runtime.monotonic() - started
  emit("task_done", task, report)
  return report
end

--- The exit code of a report: 0 all ok, 1 some host failed, 3 only unreachable hosts.
function M.exit_code(report)
  if report.ok then return 0 end
  if #report.failed == 0 and #report.unreachable > 0 and not report.error then return 3 end
  return 1
end

return M
