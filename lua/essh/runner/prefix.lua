--- essh.runner.prefix: what starts each output line of a host: `[name] ` padded to the
--- longest name on a run of several hosts; with `prefix = true`, essh v3's `[remote:name] ` /
--- `[local:name] ` / `[local] `, padded the same way; with a prefix string, that Go template
--- (`{{.Host.Name}}`, `{{HostnameAlignString " "}}`); coloured one colour per host in turn.
local engine = require "essh.runner.engine"
local terminal = require "essh.terminal"

local M = {}

-- Host prefix colours, one per host in turn (green, yellow, blue, magenta, cyan, red).
local COLOURS = { 32, 33, 34, 35, 36, 31 }

--- The prefix of each host (a table keyed by host). No prefixes for one host, unless the task
--- asks; `color` (default: when `out` is a terminal without NO_COLOR) paints them.
function M.for_hosts(hosts, task, color, out)
  local width = 0
  for _, h in ipairs(hosts) do width = math.max(width, #h.name) end
  local use_prefix = task.prefix ~= false and (#hosts > 1 or task.prefix)
  local colour = use_prefix and color
  if colour == nil then colour = use_prefix and terminal.colour(out) end
  local prefixes = {}
  for i, host in ipairs(hosts) do
    local p = ""
    if use_prefix then
      if type(task.prefix) == "string" then
        p = engine.prefix(task.prefix, task, host, hosts)
      elseif task.prefix == true and host.is_this_machine then
        p = "[local] "
      elseif task.prefix == true then
        p = ("[%s:%s]%s "):format(task:where_it_runs(), host.name, (" "):rep(width - #host.name))
      else
        p = ("[%s]%s "):format(host.name, (" "):rep(width - #host.name))
      end
      if colour then p = terminal.paint(COLOURS[(i - 1) % #COLOURS + 1], p) end
    end
    prefixes[host] = p
  end
  return prefixes
end

--- A writer of whole lines, each prefixed; lines of different hosts never mix.
function M.line_writer(stream, prefix)
  return function(line) stream:write(prefix, line, "\n") end
end

return M
