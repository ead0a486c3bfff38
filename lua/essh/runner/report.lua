--- essh.runner.report: what a run tells: every host's entry, the failed, unreachable and
--- skipped hosts, the exit code that follows, and a summary table for people.
local M = {}

--- A new report: { ok, hosts = { [name] = {status, ok, exitStatus, error, duration} },
--- failed, unreachable, skipped, interrupted, error, duration, task (its name), args }.
function M.new()
  return { ok = true, hosts = {}, failed = {}, unreachable = {}, skipped = {} }
end

--- Marks `name` skipped: it never started.
function M.skip(report, name)
  report.hosts[name] = { status = "skipped", ok = false }
  report.skipped[#report.skipped + 1] = name
end

--- Settles `report.ok` once every host has an entry.
function M.finish(report)
  report.ok = #report.failed == 0 and #report.unreachable == 0 and #report.skipped == 0 and not report.interrupted
end

--- The exit code of a report: 0 all ok, 1 some host failed, 2 no host matched, 3 only
--- unreachable hosts, 130 interrupted.
function M.exit_code(report)
  if report.interrupted then return 130 end
  if report.empty then return 2 end
  if report.ok then return 0 end
  if #report.failed == 0 and #report.unreachable > 0 and not report.error then return 3 end
  return 1
end

--- Writes the summary of a report to `stream`: one line per host (status, exit status,
--- duration, error), in the order of `report.hosts` names.
function M.summary(report, stream)
  local names, width = {}, 4
  for name in pairs(report.hosts) do
    names[#names + 1] = name
    width = math.max(width, #name)
  end
  table.sort(names)
  local format = "%-" .. width .. "s  %-11s  %4s  %8s  %s"
  local function row(...) return (format:format(...):gsub("%s+$", "")) .. "\n" end
  stream:write(row("HOST", "STATUS", "EXIT", "TIME", ""))
  for _, name in ipairs(names) do
    local h = report.hosts[name]
    local err = h.error and tostring(h.error):gsub("\n.*", "") or ""
    stream:write(row(name, h.status, h.exitStatus and tostring(h.exitStatus) or "-",
      h.duration and ("%.2fs"):format(h.duration) or "-", err))
    for _, d in ipairs(h.denied or {}) do
      stream:write(("%s  denied: %s %s (%s)\n"):format((" "):rep(width), d.permission, d.resource or "(all)",
        d.action))
    end
  end
end

return M
