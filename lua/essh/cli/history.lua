--- essh.cli.history: `essh --history [TASK]`: the last runs, newest first (STARTED, TASK and
--- its arguments, BY, TIME, RESULT, HOSTS), every one with --all, as JSON with --json.
local history = require "essh.runner.history"
local output = require "essh.cli.output"
local time_of = require("essh_native").time

local M = {}

-- "3 ok, 1 failed": the hosts of a run by status, in the order statuses first appear.
local function hosts_summary(hosts)
  local counts, order = {}, {}
  for _, h in ipairs(hosts or {}) do
    local status = h.status or "?"
    if not counts[status] then order[#order + 1] = status end
    counts[status] = (counts[status] or 0) + 1
  end
  local parts = {}
  for i, status in ipairs(order) do parts[i] = counts[status] .. " " .. status end
  return table.concat(parts, ", ")
end

local function result(run)
  if run.interrupted then return "interrupted" end
  if run.ok then return "ok" end
  local text = "exit " .. tostring(run.exit_code)
  local err = run.error
  for _, h in ipairs(run.hosts or {}) do err = err or h.error end
  if err then text = text .. ": " .. tostring(err):gsub("\n.*", "") end
  return text
end

function M.command(task_name, flags, out)
  local runs, err = history.list(task_name, not flags.all and 20 or false)
  if not runs then
    io.stderr:write("essh: --history: ", tostring(err), "\n")
    return 1
  end
  if flags.json then
    for _, run in ipairs(runs) do
      run.args, run.hosts = output.array(run.args or {}), output.array(run.hosts or {})
    end
    output.json(out, output.array(runs))
    return 0
  end
  local rows = { { "STARTED", "TASK", "BY", "TIME", "RESULT", "HOSTS" } }
  for _, run in ipairs(runs) do
    local words = { run.task }
    for _, a in ipairs(run.args or {}) do words[#words + 1] = a end
    local by = run.by or {}
    rows[#rows + 1] = { time_of.format(run.started or 0, "%Y-%m-%d %H:%M:%S"), table.concat(words, " "),
      ("%s@%s"):format(tostring(by.user), tostring(by.machine)), ("%.2fs"):format(run.duration or 0),
      result(run), hosts_summary(run.hosts) }
  end
  output.columns(rows, out)
  return 0
end

return M
