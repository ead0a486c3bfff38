--- essh.cli.run: `essh TASK [args...]`: runs a task with the run flags, prints the summary
--- (and the report as JSON with --json), and returns the exit code of the report.
local runner = require "essh.runner"
local secret = require "essh.secret"
local question = require "essh.question"
local flags_of = require "essh.cli.flags"
local output = require "essh.cli.output"

local M = {}

local function write_report(out, task_name, report)
  local hosts = {}
  local names = {}
  for name in pairs(report.hosts) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    local h = report.hosts[name]
    hosts[i] = { name = name, status = h.status, ok = h.ok, exitStatus = h.exitStatus,
      error = h.error and tostring(h.error) or nil, duration = h.duration }
  end
  output.json(out, {
    task = task_name, ok = report.ok, exit_code = runner.exit_code(report), duration = report.duration,
    error = report.error and tostring(report.error) or nil, interrupted = report.interrupted or false,
    hosts = output.array(hosts), failed = output.array(report.failed), unreachable = output.array(report.unreachable),
    skipped = output.array(report.skipped),
  }, true)
end

-- Asks for the sudo password on the terminal, without echo; nil when there is no terminal.
-- Ctrl-C at the prompt interrupts the run (exit code 130).
local function ask_sudo_password()
  local password, err = question.secret("sudo password: ")
  if password then return secret(password) end
  if err.kind == "interrupted" then error(err, 0) end
  return nil
end

local function discard() return { write = function() end } end

-- The runner's options from the run flags.
local function run_options(args, flags)
  local options = { args = #args > 0 and args or nil, dry_run = flags["dry-run"] or nil,
    sudo_password = ask_sudo_password }
  if #flags.select > 0 then options.select = flags.select end
  if #flags.filter > 0 then options.filter = flags.filter end
  if flags.parallel then options.parallel = flags.parallel == true or tonumber(flags.parallel) end
  if flags.parallel and flags.parallel ~= true and not tonumber(flags.parallel) then
    flags_of.usage_error("--parallel takes a number: --parallel=N")
  end
  local policy = flags["on-failure"]
  if policy then
    if policy ~= "abort" and policy ~= "continue" and not tonumber(policy) then
      flags_of.usage_error("--on-failure is abort, continue or a percentage")
    end
    options.on_failure = tonumber(policy) or policy
  end
  if flags.color then options.color = true elseif flags["no-color"] then options.color = false end
  return options
end

--- Runs `task` of `registry` with `args` and the run flags; returns the exit code.
function M.command(registry, task, args, flags)
  local options = run_options(args, flags)
  if flags.prefix then
    task = task:copy()
    task.prefix = task.prefix or true
  end
  local human = flags.json and io.stderr or io.stdout
  options.stdout, options.stderr = human, io.stderr
  local progress
  if flags.quiet then
    options.stdout, options.stderr = discard(), discard()
    progress = require("essh.progress").start(task, io.stderr, options.color)
  end
  local report = runner.run(registry, task, options)
  if progress then progress.stop(report) end
  if report.error then io.stderr:write("essh: ", tostring(report.error), "\n") end
  if report.interrupted then io.stderr:write("essh: interrupted\n") end
  local count = 0
  for _ in pairs(report.hosts) do count = count + 1 end
  if not options.dry_run and (count > 1 or not report.ok) then runner.summary(report, io.stderr) end
  if flags.json then write_report(io.stdout, task.name, report) end
  return runner.exit_code(report)
end

return M
