--- essh.runner.dry_run: what a task would run on each host, printed, connecting to nothing.
local script = require "essh.runner.script"

local M = {}

--- Prints each host's rendered script (prefixed) to `out` and marks the host "dry-run".
function M.print(registry, task, hosts, args, prefixes, out, report)
  for _, host in ipairs(hosts) do
    local p = prefixes[host]
    if type(task.script) == "function" then
      out:write(p, "(a Lua function: runs when the task runs)\n")
    elseif task.script or task.script_file then
      for line in (script.render(registry, task, host, args, {}) .. "\n"):gmatch("(.-)\n") do out:write(p, line, "\n") end
    end
    report.hosts[host.name] = { status = "dry-run", ok = true }
  end
end

return M
