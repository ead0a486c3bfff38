--- essh.cli.exec: `essh --exec [--backend remote] --target TAG CMD...`: one command (the
--- remaining words, joined with spaces, as essh v3 took them), run as a task named --exec: on
--- this machine (once, or once per --target host) unless --backend remote, as in essh v3.
local flags_of = require "essh.cli.flags"
local run = require "essh.cli.run"
local task_of = require "essh.task"

local M = {}

function M.command(registry, flags, args)
  local command = table.concat(args, " ")
  if command:match("^%s*$") then flags_of.usage_error("--exec needs a command") end
  if #flags.target == 0 and #flags.filter > 0 then flags_of.usage_error("--filter must be used with --target") end
  local backend = flags.backend or "local"
  if backend ~= "remote" and backend ~= "local" then flags_of.usage_error("--backend is remote or local") end
  if backend == "remote" and #flags.target == 0 and #flags.select == 0 then
    flags_of.usage_error("--exec needs --target NAME|TAG")
  end
  local task = task_of.new("--exec", "the command line")
  task_of.apply(task, {
    backend = backend, targets = #flags.target > 0 and flags.target or (#flags.select > 0 and flags.select or nil),
    privileged = flags.privileged or nil, user = flags.user, pty = flags.pty or nil, driver = flags.driver,
    prefix = flags["prefix-string"] or nil,
  })
  if flags["script-file"] then task.script_file = command else task.script = command end
  if flags.driver and not registry:get("driver", flags.driver) and flags.driver ~= "default" then
    flags_of.usage_error(("--driver: no driver named %s"):format(flags.driver))
  end
  flags.select = {}
  return run.command(registry, task, {}, flags)
end

return M
