--- essh.runner.policy: what a failed host does to the others. "abort" (the default) starts
--- no new host after a failure; "continue" runs them all; a number N stops once more than N
--- percent of the hosts have failed. Ctrl-C stops every policy.
local M = {}

local Policy = {}
Policy.__index = Policy

--- The policy `rule` over `total` hosts, recording into `report`.
function M.new(rule, total, report)
  return setmetatable({ rule = rule or "abort", total = total, report = report, failures = 0, stopped = false },
    Policy)
end

--- Whether an error is the interruption Ctrl-C causes.
function M.is_interrupt(err)
  return type(err) == "userdata" and err.kind == "interrupted"
end

--- Records that `host` failed with `failure` (its `entry` of the report).
function Policy:fail(host, entry, failure)
  entry.ok, entry.error = false, failure
  if M.is_interrupt(failure) then
    entry.status = "interrupted"
    self.report.interrupted, self.stopped = true, true
    return
  end
  entry.status = "failed"
  self.report.failed[#self.report.failed + 1] = host.name
  self.failures = self.failures + 1
  if self.rule == "abort" then
    self.stopped = true
  elseif type(self.rule) == "number" and self.failures * 100 / self.total > self.rule then
    self.stopped = true
  end
end

return M
