--- essh.cli.exec: `essh --exec CMD --target TAG`: one command on many hosts, run as a task.
local flags_of = require "essh.cli.flags"
local run = require "essh.cli.run"

local M = {}

function M.command(registry, flags, args)
  if flags.exec == true or flags.exec:match("^%s*$") then flags_of.usage_error("--exec needs a command") end
  if #flags.target == 0 and #flags.select == 0 then flags_of.usage_error("--exec needs --target NAME|TAG") end
  local task = {
    name = "exec", backend = "remote", script = flags.exec,
    targets = #flags.target > 0 and flags.target or flags.select,
    privileged = flags.privileged or nil, user = flags.user,
  }
  return run.command(registry, task, args, flags)
end

return M
