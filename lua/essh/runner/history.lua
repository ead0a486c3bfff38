--- essh.runner.history: every task run, kept in the default store (~/.essh/storage.db, see
--- essh.storage) under the key `essh.runs/<task>`: its arguments, when it started, how long it
--- took, how it ended and each host's status; the store adds who ran it (user, machine, pid).
--- The last 1,000 runs of each task stay. ESSH_HISTORY=off keeps nothing.
---
--- Recording is essh's own act, which no permission policy limits. A store that cannot be
--- opened or written never stops a run: it is a warning, once per process.
local permissions = require "essh.permissions"
local valid_text = require("essh.cli.output").valid_text
local runtime = require("essh_native").runtime

local M = {}

local PREFIX = "essh.runs/"
local KEEP = 1000

--- The store's key of a task's runs.
function M.key(task_name) return PREFIX .. task_name end

local store, unavailable, warned

local function default_store()
  if store or unavailable then return store, unavailable end
  local err
  store, err = require("essh.storage").open()
  if not store then unavailable = tostring(err) end
  return store, unavailable
end

local function off()
  local v = os.getenv("ESSH_HISTORY")
  return v == "off" or v == "0" or v == "false"
end

-- A run's arguments as the history keeps them: strings (a secret shows as its mask).
local function plain(args)
  local out = {}
  for i, a in ipairs(args or {}) do out[i] = tostring(a) end
  return out
end

--- The record of one run: { task, args, started, duration, ok, exit_code, error, interrupted,
--- hosts = { {name, status, exitStatus, error (its first line)} } } (hosts sorted by name).
function M.entry(task_name, args, started, report, exit_code)
  local names = {}
  for name in pairs(report.hosts) do names[#names + 1] = name end
  table.sort(names)
  local hosts = {}
  for i, name in ipairs(names) do
    local h = report.hosts[name]
    hosts[i] = { name = name, status = h.status, exitStatus = h.exitStatus,
      error = h.error and tostring(h.error):gsub("\n.*", ""):sub(1, 300) or nil }
  end
  -- Arguments and errors may hold any bytes (an error cut at 300 bytes, a character in two):
  -- what the store keeps is JSON, so they become valid UTF-8.
  return valid_text { task = task_name, args = plain(args), started = started, duration = report.duration,
    ok = report.ok, exit_code = exit_code, error = report.error and tostring(report.error) or nil,
    interrupted = report.interrupted or nil, hosts = hosts }
end

--- Records `entry` (see M.entry); on failure writes one warning to `stderr`, the first time.
function M.record(entry, stderr)
  if off() then return true end
  -- Nothing the store does ends the run: an error it raises is the warning too.
  local done, ok, err = runtime.pcall(permissions.as_essh, function()
    local s, open_err = default_store()
    if not s then return nil, open_err end
    return s:set(M.key(entry.task), entry, { keep = KEEP })
  end)
  if not done then ok, err = nil, ok end
  if ok then return true end
  if not warned then
    warned = true
    stderr:write("essh: the run history is not recorded: ", tostring(err), "\n")
  end
  return nil, err
end

--- The last `n` runs (default 20; false: all), newest first, of the task `task_name` or of
--- every task: { entry fields..., by = {user, machine, pid} }; or nil and an error.
function M.list(task_name, n)
  return permissions.as_essh(function()
    local s, err = default_store()
    if not s then return nil, err end
    local limit = n == false and math.huge or (n or 20)
    local keys
    if task_name then
      keys = { M.key(task_name) }
    else
      keys, err = s:keys(PREFIX)
      if not keys then return nil, err end
    end
    local runs = {}
    for _, key in ipairs(keys) do
      local lines, herr = s:history(key, limit == math.huge and KEEP or limit)
      if not lines then return nil, herr end
      for _, line in ipairs(lines) do
        if type(line.value) == "table" then
          line.value.by = line.by
          runs[#runs + 1] = line.value
        end
      end
    end
    table.sort(runs, function(a, b) return (a.started or 0) > (b.started or 0) end)
    for i = #runs, limit + 1, -1 do runs[i] = nil end
    return runs
  end)
end

return M
