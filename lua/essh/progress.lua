--- essh.progress: the state of every host while a task runs, for runs whose output is not
--- streamed. On a terminal, a live view (queued, connecting, running, ok, failed, unreachable,
--- elapsed time, an overall bar) redrawn in place; elsewhere, one plain line per finished host.
local native = require "essh_native"
local runner = require "essh.runner"
local terminal = require "essh.terminal"

local runtime = native.runtime
local M = {}

local MAX_ROWS = 20
local COLOURS = { ok = 32, failed = 31, unreachable = 33, interrupted = 31, skipped = 2 }
local FINISHED = { ok = true, failed = true, unreachable = true, interrupted = true, skipped = true }
-- Rows shown: hosts at work first, then the finished, then the queued; at most MAX_ROWS.
local ORDER = { connecting = 1, running = 1, failed = 2, unreachable = 2, interrupted = 2, ok = 3, skipped = 3, queued = 4 }

--- Starts showing the progress of `task` on `stream`; returns { stop = function(report) }.
function M.start(task, stream, colour)
  local live = terminal.is(stream)
  if colour == nil then colour = terminal.colour(stream) end
  local rows, by_name, drawn, started = {}, {}, 0, runtime.monotonic()

  local function paint(status)
    local code = COLOURS[status]
    if not colour or not code then return status end
    return terminal.paint(code, status)
  end

  local function draw()
    if not live then return end
    local now, done, width = runtime.monotonic(), 0, 4
    for _, r in ipairs(rows) do
      if FINISHED[r.status] then done = done + 1 end
      width = math.max(width, #r.name)
    end
    local lines = {}
    local shown = {}
    for _, r in ipairs(rows) do shown[#shown + 1] = r end
    table.sort(shown, function(a, b)
      local oa, ob = ORDER[a.status] or 5, ORDER[b.status] or 5
      if oa ~= ob then return oa < ob end
      return a.index < b.index
    end)
    for i = 1, math.min(#shown, MAX_ROWS) do
      local r = shown[i]
      local elapsed = r.t0 and ((r.t1 or now) - r.t0) or 0
      lines[#lines + 1] = ("  %s%s  %s%s %6.1fs"):format(r.name, (" "):rep(width - #r.name), paint(r.status),
        (" "):rep(11 - #r.status), elapsed)
    end
    if #shown > MAX_ROWS then lines[#lines + 1] = ("  ... and %d more"):format(#shown - MAX_ROWS) end
    local bar_width = 30
    local filled = #rows > 0 and math.floor(bar_width * done / #rows) or bar_width
    lines[#lines + 1] = ("%s [%s%s] %d/%d  %.1fs"):format(task.name, ("#"):rep(filled), ("."):rep(bar_width - filled),
      done, #rows, now - started)
    local out = {}
    if drawn > 0 then out[1] = ("\27[%dA"):format(drawn) end
    for _, line in ipairs(lines) do out[#out + 1] = "\27[2K" .. line .. "\n" end
    stream:write(table.concat(out))
    drawn = #lines
  end

  local offs = {
    runner.on("task_start", function(t, hosts)
      if t ~= task then return end
      for i, h in ipairs(hosts) do
        local r = { name = h.name, status = "queued", index = i }
        rows[i], by_name[h.name] = r, r
      end
      draw()
    end),
    runner.on("host_start", function(t, host)
      local r = t == task and by_name[host.name]
      if r then r.t0, r.status = runtime.monotonic(), "connecting" draw() end
    end),
    runner.on("host_status", function(t, host, entry)
      local r = t == task and by_name[host.name]
      if r then r.status = entry.status draw() end
    end),
    runner.on("host_done", function(t, host, entry)
      local r = t == task and by_name[host.name]
      if not r then return end
      r.status, r.t1 = entry.status, runtime.monotonic()
      if live then
        draw()
      else
        stream:write(("%s: %s (%.2fs)\n"):format(host.name, entry.status, entry.duration or 0))
      end
    end),
  }
  local ticker = live and runtime.spawn(function()
    while true do
      runtime.sleep(0.25)
      draw()
    end
  end)

  return {
    stop = function(report)
      if ticker then ticker:cancel() end
      for _, off in ipairs(offs) do off() end
      for name, entry in pairs(report and report.hosts or {}) do
        if by_name[name] then by_name[name].status = entry.status end
      end
      draw()
    end,
  }
end

return M
