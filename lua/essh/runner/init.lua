--- essh.runner: runs a task on its hosts. One connection per host, hosts as tasks of the native
--- scheduler (capped by `parallel`), live output prefixed per host and never interleaved
--- mid-line, a failure policy, and a report of every host.
local runtime = require("essh_native").runtime
local native_time = require("essh_native").time
local context = require "essh.context"
local dry_run = require "essh.runner.dry_run"
local events = require "essh.runner.events"
local history = require "essh.runner.history"
local host_work = require "essh.runner.host"
local policy_of = require "essh.runner.policy"
local prefix = require "essh.runner.prefix"
local report_of = require "essh.runner.report"
local script = require "essh.runner.script"
local selection = require "essh.runner.selection"
local ssh_args = require "essh.ssh_args"
local ssh_config_file = require "essh.ssh_config_file"
local task_of = require "essh.task"
-- Taken once: code a task runs cannot replace how later runs and hosts enter their scopes.
local permissions = require "essh.permissions"
local within, enter, leave = permissions.within, permissions.enter, permissions.leave
local grants_policy, open_policy, apply_pending = permissions.policy, permissions.open, permissions.apply_pending

local M = {}

local DEFAULT_PARALLEL = 32

--- The options `run` takes (see its doc and essh.RunOptions in types/essh.lua).
M.OPTIONS = { "select", "filter", "parallel", "dry_run", "args", "on_failure", "sudo_password", "stdin", "color",
  "stdout", "stderr" }
local KNOWN_OPTIONS = {}
for _, name in ipairs(M.OPTIONS) do KNOWN_OPTIONS[name] = true end

--- `essh.on(event, fn)`: see essh.runner.events.
M.on = events.on
M.exit_code = report_of.exit_code
M.summary = report_of.summary
M.variables = script.variables
M.render = script.render

-- The sudo password, asked once per run and only when a host needs it.
local function asked_once(given)
  local asked, value = false, nil
  return function()
    if not asked then
      asked = true
      value = given
      if type(value) == "function" then value = value() end
    end
    return value
  end
end

-- How many hosts run at once.
local function parallel_limit(task, options)
  local limit = task.parallel == true and DEFAULT_PARALLEL or (tonumber(task.parallel) or 1)
  if options.parallel then limit = options.parallel == true and DEFAULT_PARALLEL or tonumber(options.parallel) end
  return math.max(1, limit)
end

-- Runs `task.prepare` on this machine, before the hosts are chosen: its context reads and sets
-- the run's task fields (`t.targets = "web"`); false when the run must stop (the report says why).
local function prepared(task, run, report)
  if not task.prepare then return true end
  local fields = { prepare = true }
  for k, v in pairs(run) do fields[k] = v end
  local ok, _, result = runtime.pcall(within, run.policy, { task = task.name }, task.prepare,
    context.new(task, selection.local_host(), nil, fields))
  if not ok then result = _ end
  if ok and result ~= false then return true end
  report.ok = false
  report.error = ok and ("task %s: prepare returned false"):format(task.name) or tostring(result)
  report.interrupted = policy_of.is_interrupt(result) or nil
  return false
end

-- The job of one host for runtime.parallel.
local function job(run, host, policy, report)
  return function()
    local entry = { status = "queued", ok = true }
    report.hosts[host.name] = entry
    if policy.stopped then
      entry.status, entry.ok = "skipped", false
      report.skipped[#report.skipped + 1] = host.name
      return
    end
    events.emit("host_start", run.task, host)
    local t0 = runtime.monotonic()
    local ok, failure
    -- The host's work runs in the task's permissions, labelled for the audit and the report.
    local layer, saved = enter(run.policy, { task = run.task.name, host = host.name })
    if run.task.timeout then
      local done, err = runtime.timeout(run.task.timeout, function() host_work.work(run, host, entry) return true end)
      ok, failure = done == true, err
    else
      ok, failure = runtime.pcall(host_work.work, run, host, entry)
    end
    leave(saved)
    local denied = layer:denials()
    if #denied > 0 then entry.denied = denied end
    entry.duration = runtime.monotonic() - t0
    if entry.status == "unreachable" then
      report.unreachable[#report.unreachable + 1] = host.name
    elseif not ok then
      policy:fail(host, entry, failure)
    end
    events.emit("host_done", run.task, host, entry)
  end
end

local function execute(registry, task, options)
  for key in pairs(options) do
    if not KNOWN_OPTIONS[key] then
      error(("essh.run: unknown option '%s' (known: %s)"):format(tostring(key), table.concat(M.OPTIONS, ", ")), 3)
    end
  end
  if type(task) == "string" then
    local found = registry:get("task", task)
    if not found then error(("no task named %s"):format(task), 3) end
    task = found
  end
  if not task_of.is(task) then error("essh.run: a task (or its name) expected, got a " .. type(task), 3) end
  task = task:copy()
  local started = runtime.monotonic()
  local report = report_of.new()
  report.task, report.args = task.name, options.args or task.args or {}
  local function stop(message)
    report.ok, report.error = false, message
    report.duration = runtime.monotonic() - started
    return report
  end
  apply_pending(registry)
  local written, unwritten = ssh_config_file.write(registry)
  if not written then
    local message = ("the generated ssh_config is not written: %s"):format(tostring(unwritten))
    if ssh_config_file.chosen() then
      (options.stderr or io.stderr):write("essh: ", message, "\n")
    else
      require("essh.debugging").say(message)
    end
  end
  local task_policy
  if task.permissions then
    task_policy = grants_policy(task.permissions, "the permissions of task " .. task.name,
      { registry = registry, base = task._where and task._where:match("^(.*)/[^/]*:%d+$") })
  else
    task_policy = open_policy("task " .. task.name)
  end
  local stdin
  if task.stdin then
    stdin = options.stdin
    if stdin == nil and not options.dry_run then stdin = io.stdin:read("*a") or "" end
  end
  local out = options.stdout or io.stdout
  local run = { task = task, registry = registry, args = options.args or task.args or {}, stdin = stdin,
    password = asked_once(options.sudo_password), stdout = out, stderr = options.stderr or io.stderr, scripts = {},
    policy = task_policy }
  if not prepared(task, run, report) then
    report.duration = runtime.monotonic() - started
    return report
  end
  run.as_user = task.user or (task.privileged and "root") or nil
  if task.ssh_options then
    local ok, parsed = pcall(ssh_args.parse, task.ssh_options)
    if not ok then return stop(("task %s: ssh_options: %s"):format(task.name, type(parsed) == "table"
      and parsed.usage or tostring(parsed))) end
    run.ssh_options = parsed
  end
  if task:where_it_runs() ~= "remote" then
    for _, field in ipairs { "pty", "ssh_options" } do
      if task[field] then
        run.stderr:write(("essh: task %s: %s applies to remote tasks; this one runs here\n"):format(task.name, field))
      end
    end
  end
  local hosts, no_hosts = selection.hosts(registry, task, options)
  if not hosts then
    report.empty = true
    return stop(no_hosts)
  end

  if #hosts == 0 then
    local wanted = options.select or task.targets
    wanted = type(wanted) == "table" and table.concat(wanted, ", ") or tostring(wanted)
    local filters = {}
    for _, f in ipairs { task.filters, options.filter } do
      for _, name in ipairs(type(f) == "table" and f or { f }) do filters[#filters + 1] = name end
    end
    report.ok, report.empty = false, true
    report.error = ("task %s: no host matches %s%s"):format(task.name, wanted,
      #filters > 0 and (" filtered by " .. table.concat(filters, ", ")) or "")
    report.duration = runtime.monotonic() - started
    return report
  end
  events.emit("task_start", task, hosts)
  run.prefixes = prefix.for_hosts(hosts, task, options.color, out)
  if options.dry_run then
    dry_run.print(registry, task, hosts, run.args, run.prefixes, out, report)
    report.duration = runtime.monotonic() - started
    return report
  end

  -- A task with `lock` runs only while it holds that lock of the default store.
  local held
  if task.lock then
    local store, err = require("essh.storage").open()
    if store then held, err = store:lock(task.lock, { wait = 0 }) end
    if not held then return stop(("task %s: %s"):format(task.name, tostring(err))) end
  end

  local policy = policy_of.new(options.on_failure or task.on_failure, #hosts, report)
  local jobs = {}
  for i, host in ipairs(hosts) do jobs[i] = job(run, host, policy, report) end
  -- After Ctrl-C the scheduler raises once every host has seen it: the report is then partial.
  local finished, results = pcall(runtime.parallel, jobs, { limit = parallel_limit(task, options) })
  if held then held:release() end
  if not finished then
    if not policy_of.is_interrupt(results) then error(results, 0) end
    report.interrupted, results = true, {}
  end
  for i, r in ipairs(results) do
    if r[1] == nil and r[2] ~= nil then policy:fail(hosts[i], report.hosts[hosts[i].name], r[2]) end
  end
  for _, host in ipairs(hosts) do
    local entry = report.hosts[host.name]
    if not entry or entry.status == "queued" then report_of.skip(report, host.name) end
  end
  report_of.finish(report)
  report.duration = runtime.monotonic() - started
  events.emit("task_done", task, report)
  return report
end

--- Runs `task` (a task record or name) of `registry`. Options: select, filter, parallel, dry_run,
--- args, on_failure, sudo_password (a string, a secret, or a function asked once when a host's
--- sudo needs it), stdin (the data fanned out to every host when the task says `stdin = true`;
--- default: all of io.stdin, read once), color (default: on a terminal without NO_COLOR),
--- stdout, stderr (writers; default io.stdout, io.stderr).
--- Every run but a dry one goes into the run history (essh.runner.history).
--- Returns the report (see essh.runner.report).
function M.run(registry, task, options)
  options = options or {}
  local started = native_time.now()
  local report = execute(registry, task, options)
  if not options.dry_run and report.task then
    history.record(history.entry(report.task, report.args, started, report, report_of.exit_code(report)),
      options.stderr or io.stderr)
  end
  return report
end

return M
