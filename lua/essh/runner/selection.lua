--- essh.runner.selection: the hosts a task runs on.
local query = require "essh.query"

local M = {}

--- The host of a local task: this machine.
function M.local_host()
  return { name = "localhost", HostName = "localhost", tags = {}, props = {}, is_this_machine = true,
    matches = function() return false end }
end

--- The hosts of `task` in `registry`, sorted by name: its targets (or `options.select`), kept
--- by the task's filters and `options.filter`. A local task without targets runs once, on this
--- machine; with targets, once per target host (on this machine, with the host's variables).
--- Nil and an error for a remote task without targets.
function M.hosts(registry, task, options)
  local targets = options.select or task.targets
  if targets == nil then
    if task:where_it_runs() == "remote" then
      return nil, ("task %s: a remote task needs targets (hosts or tags)"):format(task.name)
    end
    return { M.local_host() }
  end
  local q = query.new(registry, targets):sorted()
  if task.filters then q = q:filter(task.filters) end
  if options.filter then q = q:filter(options.filter) end
  return q:list()
end

return M
