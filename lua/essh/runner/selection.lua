--- essh.runner.selection: the hosts a task runs on.
local query = require "essh.query"

local M = {}

--- The host of a local task: this machine.
function M.local_host()
  return { name = "localhost", HostName = "localhost", tags = {}, props = {}, matches = function() return false end }
end

--- The hosts of `task` in `registry`: its targets (or `options.select`), kept by the task's
--- filters and `options.filter`; this machine alone for a local task.
function M.hosts(registry, task, options)
  if task.backend ~= "remote" then return { M.local_host() } end
  local q = query.new(registry, options.select or task.targets)
  if task.filters then q = q:filter(task.filters) end
  if options.filter then q = q:filter(options.filter) end
  return q:list()
end

return M
