--- essh.runner.host: one host's work: connect (with its hooks), run the task's script or Lua
--- function, disconnect, and keep the host's entry of the report up to date.
local connection = require "essh.connection"
local context = require "essh.context"
local events = require "essh.runner.events"
local policy = require "essh.runner.policy"
local prefix = require "essh.runner.prefix"
local script = require "essh.runner.script"
local sudo = require "essh.sudo"

local M = {}

-- Runs the task's script (or function) with `ctx` on its host.
local function run_script(run, host, ctx, entry)
  local task = run.task
  if type(task.script) == "function" then return task.script(ctx) end
  if not task.script and not task.script_file then return end
  local on_terminal = ctx.connection ~= nil and task.pty == true
  local command, stdin = script.command(script.render(run.registry, task, host, run.args, run.scripts), run.stdin,
    on_terminal)
  if run.as_user then
    local plan = ctx:sudo(run.as_user)
    command, stdin = sudo.command(plan, command), sudo.stdin(plan, stdin)
  end
  local p = run.prefixes[host]
  local r, e = ctx:exec(command, { stdin = stdin, lines = true, on_stdout = prefix.line_writer(run.stdout, p),
    on_stderr = prefix.line_writer(run.stderr, p), env = task.env, pty = on_terminal or nil })
  if not r then error(e, 0) end
  entry.exitStatus = r.exitStatus
  if not r.ok then error(("exit status %s"):format(tostring(r.exitStatus or r.signal)), 0) end
end

local function set_status(run, host, entry, status)
  entry.status = status
  events.emit("host_status", run.task, host, entry)
end

--- Does `run.task`'s work on `host`, recording into `entry`; raises when it fails. An
--- unreachable host sets entry.status to "unreachable" and returns. `run` holds what every
--- host shares: task, registry, args, stdin, as_user, password, prefixes, stdout, stderr.
function M.work(run, host, entry)
  local ctx = context.new(run.task, host, nil, run)
  if run.task:where_it_runs() ~= "remote" then
    set_status(run, host, entry, "running")
    run_script(run, host, ctx, entry)
    entry.status = "ok"
    return
  end
  local done, err = connection.around(host, ctx, function() run_script(run, host, ctx, entry) end,
    function(stage, conn)
      if stage == "connected" then ctx.connection = conn end
      set_status(run, host, entry, stage == "connecting" and "connecting" or "running")
    end, { hooks = host.hooks_in_tasks, ssh = run.ssh_options, out = run.stdout, err = run.stderr })
  if done then
    entry.status = "ok"
  else
    if policy.is_interrupt(err) then error(err, 0) end
    entry.status, entry.ok, entry.error = "unreachable", false, err
  end
end

return M
