--- essh.runner: runs a task on its hosts. One connection per host, hosts as tasks of the native
--- scheduler (capped by `parallel`), live output prefixed per host and never interleaved
--- mid-line, a failure policy, and a report of every host.
local native = require "essh_native"
local query = require "essh.query"
local template = require "essh.template"
local shell_quote = template.shell_quote

local ssh, runtime, process = native.ssh, native.runtime, native.process
local secret = require "essh.secret"
local terminal = require "essh.terminal"

local M = {}

local DEFAULT_PARALLEL = 32

local EVENTS = { task_start = true, host_start = true, host_status = true, host_done = true, task_done = true }
local listeners = { task_start = {}, host_start = {}, host_status = {}, host_done = {}, task_done = {} }

--- Calls `fn` on an event: task_start(task, hosts), host_start(task, host), host_status(task,
--- host, entry) when a host's entry.status changes (connecting, running), host_done(task,
--- host, entry), task_done(task, report). For logging, notifications and custom reports.
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

--- The command and stdin that run `script` on the host's shell. When `data` is given (the
--- runner's stdin fanned out), the script's exact byte count is read first and the script then
--- runs with `data` left on its stdin.
local function shell_for(script, data)
  if not data then return SHELL, script end
  local boot = shell_quote(("s=$(head -c %d) && eval \"$s\""):format(#script))
  return ("if command -v bash >/dev/null 2>&1; then exec bash -c %s; else exec sh -c %s; fi"):format(boot, boot),
    script .. data
end

--- How to run a command as `as_user` on a host: the command prefix and the stdin prefix.
--- `sudo -n` when sudo needs no password there, else `sudo -S` with the password as the first
--- line of stdin (never on a command line). `exec` runs a command on the host; `password()`
--- gives the sudo password, asked at most once per run.
local function sudo_for(as_user, exec, password)
  local sudo = "sudo -u " .. shell_quote(as_user)
  local probe = exec(sudo .. " -n true")
  if probe and probe.ok then return sudo .. " -n ", "" end
  local pw = password()
  if not pw then
    error(("sudo needs a password here: give sudo_password (or answer the prompt of essh.main)"), 0)
  end
  return sudo .. " -S -p '' ", secret.reveal(pw) .. "\n"
end

-- `stdin` (nil, a string or a reader function) after `first`.
local function stdin_after(first, stdin)
  if first == "" then return stdin end
  if type(stdin) ~= "function" then return first .. (stdin or "") end
  local sent = false
  return function()
    if not sent then sent = true return first end
    return stdin()
  end
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

-- A command on the current host as given: over the session, or on this machine.
function Context:exec(command, options)
  if self.session then return self.session:exec(command, options) end
  return process.run(command, options)
end

--- The command prefix and stdin prefix that run commands as `as_user` here, found once per host.
function Context:sudo(as_user)
  local memo = self._sudo[as_user]
  if not memo then
    local prefix, first = sudo_for(as_user, function(command) return self:exec(command) end, self._password)
    memo = { prefix, first }
    self._sudo[as_user] = memo
  end
  return memo[1], memo[2]
end

local AS_USER = { user = true, privileged = true }

--- Runs a command on the current host (locally for local tasks and in prepare) and returns
--- `{exitStatus, stdout, stderr, ok}`. It runs as the task's user (`privileged`, `user`), or
--- as `options.user`, or as root with `options.privileged = true` (false: as the login user).
function Context:run(command, options)
  local as_user = self._user
  if options and (options.user ~= nil or options.privileged ~= nil) then
    as_user = options.user or (options.privileged and "root") or nil
  end
  local opts = {}
  for k, v in pairs(options or {}) do
    if not AS_USER[k] then opts[k] = v end
  end
  if as_user then
    local prefix, first = self:sudo(as_user)
    command = prefix .. "sh -c " .. shell_quote(command)
    opts.stdin = stdin_after(first, opts.stdin)
  end
  return checked(self:exec(command, opts))
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
function M.run_hook(hook, host, ctx, session)
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

-- Host prefix colours, one per host in turn (green, yellow, blue, magenta, cyan, red).
local COLOURS = { 32, 33, 34, 35, 36, 31 }

local function is_interrupt(err)
  return type(err) == "userdata" and err.kind == "interrupted"
end

--- Runs `task` (a task record or name) of `registry`. Options: select, filter, parallel, dry_run,
--- args, on_failure, sudo_password (a string, a secret, or a function asked once when a host's
--- sudo needs it), stdin (the data fanned out to every host when the task says `stdin = true`;
--- default: all of io.stdin, read once), color (default: on a terminal without NO_COLOR),
--- stdout, stderr (writers; default io.stdout, io.stderr).
--- Returns the report { ok, hosts = { [name] = {status, ok, exitStatus, error, duration} },
--- failed, unreachable, skipped, interrupted, duration }.
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

  local data
  if task.stdin then
    data = options.stdin
    if data == nil and not options.dry_run then data = io.stdin:read("*a") or "" end
  end

  local function context(host, as_user)
    return setmetatable({ task = task, host = host, args = args, name = task.name, stdin = data,
      _user = as_user, _sudo = {}, _password = sudo_password }, Context)
  end
  local task_user = task.user or (task.privileged and "root") or nil

  emit("task_start", task, hosts)
  if task.prepare then
    local ok, result = runtime.pcall(task.prepare, context(local_host()))
    if not ok or result == false then
      report.ok = false
      report.error = ok and ("task %s: prepare returned false"):format(task.name) or tostring(result)
      report.interrupted = is_interrupt(result) or nil
      report.duration = runtime.monotonic() - started
      return report
    end
  end

  local width = 0
  for _, h in ipairs(hosts) do width = math.max(width, #h.name) end
  local use_prefix = task.prefix ~= false and (#hosts > 1 or task.prefix)
  local colour = use_prefix and options.color
  if colour == nil then colour = use_prefix and terminal.colour(out) end
  local prefixes = {}
  for i, host in ipairs(hosts) do
    local p = ""
    if use_prefix then
      if type(task.prefix) == "string" then
        p = template.render(task.prefix, { host = host, task = task }, "prefix of task " .. task.name)
      else
        p = ("[%s]%s "):format(host.name, (" "):rep(width - #host.name))
      end
      if colour then p = terminal.paint(COLOURS[(i - 1) % #COLOURS + 1], p) end
    end
    prefixes[host] = p
  end

  if options.dry_run then
    for _, host in ipairs(hosts) do
      local p = prefixes[host]
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

  local policy = options.on_failure or task.on_failure or "abort"
  local failures, stopped = 0, false

  -- One host's work: connect (with hooks), run the script, disconnect. Raises on failure.
  local function work(host, entry)
    local session
    local ctx = context(host, task_user)
    if task.backend == "remote" then
      M.run_hook(host.before_connect, host, ctx)
      entry.status = "connecting"
      emit("host_status", task, host, entry)
      local s, err = ssh.connect(host:connect_options())
      if not s then
        if is_interrupt(err) then error(err, 0) end
        entry.status, entry.ok, entry.error = "unreachable", false, err
        return
      end
      session = s
      ctx.session = s
    end
    entry.status = "running"
    emit("host_status", task, host, entry)
    local ok, failure = runtime.pcall(function()
      if session then M.run_hook(host.after_connect, host, ctx, session) end
      if type(task.script) == "function" then
        task.script(ctx)
      elseif task.script then
        local command, stdin = shell_for(M.render(registry, task, host, args), data)
        if task_user then
          local prefix, first = ctx:sudo(task_user)
          command, stdin = prefix .. "sh -c " .. shell_quote(command), first .. stdin
        end
        local p = prefixes[host]
        local r, e = ctx:exec(command, { stdin = stdin, lines = true, on_stdout = line_writer(out, p),
          on_stderr = line_writer(err_out, p), env = task.env })
        if not r then error(e, 0) end
        entry.exitStatus = r.exitStatus
        if not r.ok then error(("exit status %s"):format(tostring(r.exitStatus or r.signal)), 0) end
      end
    end)
    if session then
      session:close()
      M.run_hook(host.after_disconnect, host, ctx)
    end
    if not ok then error(failure, 0) end
    entry.status = "ok"
  end

  local function fail(host, entry, failure)
    entry.ok, entry.error = false, failure
    if is_interrupt(failure) then
      entry.status = "interrupted"
      report.interrupted, stopped = true, true
      return
    end
    entry.status = "failed"
    report.failed[#report.failed + 1] = host.name
    failures = failures + 1
    if policy == "abort" then
      stopped = true
    elseif type(policy) == "number" and failures * 100 / #hosts > policy then
      stopped = true
    end
  end

  local function job(host)
    return function()
      local entry = { status = "queued", ok = true }
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
        fail(host, entry, failure)
      end
      emit("host_done", task, host, entry)
    end
  end

  local jobs = {}
  for i, host in ipairs(hosts) do jobs[i] = job(host) end
  local limit = task.parallel == true and DEFAULT_PARALLEL or (tonumber(task.parallel) or 1)
  if options.parallel then limit = options.parallel == true and DEFAULT_PARALLEL or tonumber(options.parallel) end
  -- After Ctrl-C the scheduler raises once every host has seen it: the report is then partial.
  local finished, results = pcall(runtime.parallel, jobs, { limit = math.max(1, limit) })
  if not finished then
    if not is_interrupt(results) then error(results, 0) end
    report.interrupted, results = true, {}
  end
  for i, r in ipairs(results) do
    if r[1] == nil and r[2] ~= nil then fail(hosts[i], report.hosts[hosts[i].name], r[2]) end
  end
  for _, host in ipairs(hosts) do
    local entry = report.hosts[host.name]
    if not entry or entry.status == "queued" then
      report.hosts[host.name] = { status = "skipped", ok = false }
      report.skipped[#report.skipped + 1] = host.name
    end
  end
  report.ok = #report.failed == 0 and #report.unreachable == 0 and #report.skipped == 0 and not report.interrupted
  report.duration = runtime.monotonic() - started
  emit("task_done", task, report)
  return report
end

--- The exit code of a report: 0 all ok, 1 some host failed, 3 only unreachable hosts,
--- 130 interrupted.
function M.exit_code(report)
  if report.interrupted then return 130 end
  if report.ok then return 0 end
  if #report.failed == 0 and #report.unreachable > 0 and not report.error then return 3 end
  return 1
end

--- Writes the summary of a report to `stream`: one line per host (status, exit status,
--- duration, error), in the order of `report.hosts` names.
function M.summary(report, stream)
  local names, width = {}, 4
  for name in pairs(report.hosts) do
    names[#names + 1] = name
    width = math.max(width, #name)
  end
  table.sort(names)
  local format = "%-" .. width .. "s  %-11s  %4s  %8s  %s"
  local function row(...) return (format:format(...):gsub("%s+$", "")) .. "\n" end
  stream:write(row("HOST", "STATUS", "EXIT", "TIME", ""))
  for _, name in ipairs(names) do
    local h = report.hosts[name]
    local err = h.error and tostring(h.error):gsub("\n.*", "") or ""
    stream:write(row(name, h.status, h.exitStatus and tostring(h.exitStatus) or "-",
      h.duration and ("%.2fs"):format(h.duration) or "-", err))
  end
end

return M
