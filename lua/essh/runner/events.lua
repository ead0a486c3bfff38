--- essh.runner.events: listeners of the runner's events: task_start(task, hosts),
--- host_start(task, host), host_status(task, host, entry) when a host's entry.status changes
--- (connecting, running), host_done(task, host, entry), task_done(task, report).
local M = {}

--- The events, in the order a run tells them.
M.NAMES = { "task_start", "host_start", "host_status", "host_done", "task_done" }

local listeners = {}
for _, name in ipairs(M.NAMES) do listeners[name] = {} end

--- Calls `fn` on `event`; returns a function that removes it again.
function M.on(event, fn)
  local list = listeners[event]
  if not list then error(("essh.on: unknown event '%s'"):format(tostring(event)), 2) end
  if type(fn) ~= "function" then error("essh.on: a function is required", 2) end
  list[#list + 1] = fn
  return function()
    for i, f in ipairs(list) do
      if f == fn then table.remove(list, i) return end
    end
  end
end

--- Tells every listener of `event` about `task` (the task as defined, not a run's copy of it).
function M.emit(event, task, ...)
  local defined = type(task) == "table" and rawget(task, "_defined") or task
  for _, fn in ipairs(listeners[event]) do fn(defined, ...) end
end

return M
