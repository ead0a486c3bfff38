--- essh.cli.tasks: `essh --tasks`: the tasks (NAME, DESCRIPTION), as names alone with
--- --quiet, or as JSON.
local output = require "essh.cli.output"

local M = {}

--- The tasks to show: hidden and disabled ones only with --all.
function M.visible(registry, flags)
  local tasks = {}
  for _, t in ipairs(registry:list("task")) do
    if flags.all or not (t.hidden or t.disabled) then tasks[#tasks + 1] = t end
  end
  return tasks
end

function M.command(registry, flags, out)
  local tasks = M.visible(registry, flags)
  if flags.json then
    local items = {}
    for i, t in ipairs(tasks) do
      local targets = type(t.targets) == "string" and { t.targets } or t.targets
      items[i] = { name = t.name, description = t.description, hidden = t.hidden or false,
        disabled = t.disabled or false, backend = t.backend,
        targets = targets and output.array(targets) or nil }
    end
    output.json(out, output.array(items))
  elseif flags.quiet then
    for _, t in ipairs(tasks) do out:write(t.name, "\n") end
  else
    local rows = { { "NAME", "DESCRIPTION" } }
    for _, t in ipairs(tasks) do
      rows[#rows + 1] = { t.name, (t.description or "") .. (t.disabled and " (disabled)" or "") }
    end
    output.columns(rows, out)
  end
  return 0
end

return M
