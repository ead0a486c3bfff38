--- essh.task: task definitions. A task is an object: `task "name" { ... }` defines it, and its
--- fields can be set later (`t.description = "..."`, `t "echo hi"` sets its script), each one
--- checked when it is set. The script takes essh v3's forms (a string, a list of strings,
--- `{ code = ..., description = ... }` entries, functions returning those, called when the
--- script is set) or a Lua function of the task context.
local check = require "essh.check"
local gotemplate = require("essh_native").gotemplate

local M = {}

local NAMES = check.one_or_list(check.name, "a host name or tag")

local function is_script_entry(v)
  return type(v) == "string" or type(v) == "function" or (type(v) == "table" and v.code ~= nil)
end

--- What each field of a task must hold (see essh.TaskSpec in types/essh.lua).
local CHECKS = {
  description = check.text, hidden = check.boolean, disabled = check.boolean, targets = NAMES, filters = NAMES,
  backend = check.one_of { "remote", "local" },
  parallel = check.either("true, false or a whole number above 0", check.boolean,
    function(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end),
  prefix = function(v)
    if type(v) == "boolean" then return true end
    if not check.text(v) then return false, "true, false or a prefix template (a string without control characters)" end
    local ok, err = gotemplate.check(v, { name = "prefix", align = 0 })
    if ok then return true end
    return false, ("a Go template that parses (%s)"):format(tostring(err))
  end,
  privileged = check.boolean, user = check.name, pty = check.boolean,
  env = check.map_of(check.name, function(v) return type(v) == "string" or type(v) == "number" end,
    "a table of variable names to strings or numbers"),
  props = check.map_of(check.text, check.scalar, "a table of names to strings, numbers or booleans"),
  args = check.list_of(check.scalar, "strings or numbers"), driver = check.name, timeout = check.positive,
  on_failure = check.either('"abort", "continue" or a percentage (0 to 100)', check.one_of { "abort", "continue" },
    function(v) return type(v) == "number" and v >= 0 and v <= 100 end),
  prepare = check.func,
  script = check.either("a script (a string), a list of scripts, { code = ... } or a Lua function",
    function(v) return type(v) == "string" end, check.func, is_script_entry,
    check.list_of(is_script_entry, "scripts")),
  script_file = check.text,
  ssh_options = check.list_of(check.text, "ssh command-line arguments (strings)"),
  override = check.boolean, stdin = check.boolean, lock = check.name,
  permissions = function(v)
    local ok, err = pcall(require("essh.permissions").check_grants, v, "permissions")
    if ok then return true end
    return false, ("a table of permissions (%s)"):format(tostring(err):gsub("^permissions: ", ""))
  end,
}
M.CHECKS = CHECKS

--- The fields a task definition may have.
M.FIELDS = {}
for k in pairs(CHECKS) do M.FIELDS[k] = true end

-- The entries of a v3 script value: {code = ..., description = ...} tables; a function in a
-- list is called now and its result read the same way.
local function entries(value, where, name, out)
  if type(value) == "string" then
    out[#out + 1] = { code = value }
  elseif type(value) == "function" then
    local ok, result = pcall(value)
    if not ok then error(("%s: task %s: a script function failed: %s"):format(where, name, tostring(result)), 0) end
    if not (type(result) == "string" or type(result) == "table") then
      error(("%s: task %s: a script function must return a script, got %s"):format(where, name, check.got(result)), 0)
    end
    entries(result, where, name, out)
  elseif value.code ~= nil then
    local entry = {}
    for k, v in pairs(value) do
      if type(v) ~= "string" and type(v) ~= "boolean" and type(v) ~= "number" then
        error(("%s: task %s: a script entry's %s must be a string or boolean, got %s")
          :format(where, name, tostring(k), check.got(v)), 0)
      end
      entry[k] = tostring(v)
    end
    out[#out + 1] = entry
  else
    for _, item in ipairs(value) do entries(item, where, name, out) end
  end
  return out
end

local Task = {}

--- Sets field `key` of task `self` (checked), as a definition or an assignment does.
local function set(self, key, value, where)
  local name = rawget(self, "_name")
  where = where or rawget(self, "_where")
  if type(key) ~= "string" or not CHECKS[key] then
    error(("%s: task %s: unknown field '%s'"):format(where, name, tostring(key)), 0)
  end
  if value ~= nil then check.field(where, "task " .. name, key, CHECKS[key], value) end
  local fields = rawget(self, "_fields")
  if key == "script" then
    fields.scripts = (value ~= nil and type(value) ~= "function") and entries(value, where, name, {}) or nil
  end
  fields[key] = value
  if fields.script ~= nil and fields.script_file ~= nil then
    error(("%s: task %s: script and script_file cannot both be set"):format(where, name), 0)
  end
end

Task.__index = function(self, key)
  if key == "name" then return rawget(self, "_name") end
  local value = rawget(self, "_fields")[key]
  if value ~= nil then return value end
  return Task[key]
end

M.set = set

Task.__newindex = function(self, key, value)
  local info = debug.getinfo(2, "Sl")
  set(self, key, value, info and (info.short_src .. ":" .. (info.currentline or 0)) or nil)
end

Task.__tostring = function(self) return "task " .. rawget(self, "_name") end

--- Applies a definition to the task: a table of fields, or a script (`task "name" "echo hi"`).
function M.apply(self, spec)
  local where = rawget(self, "_where")
  if type(spec) == "string" or (type(spec) == "table" and spec[1] ~= nil and spec.script == nil) then
    spec = { script = spec }
  end
  if type(spec) ~= "table" then
    error(("%s: task %s: expected a table of fields or a script, got %s"):format(where, rawget(self, "_name"),
      check.got(spec)), 0)
  end
  for key, value in pairs(spec) do set(self, key, value, where) end
  return self
end

Task.__call = M.apply

--- Where the task's script runs: its `backend`, else "remote" for a Lua function with targets
--- (its t:run goes to each host), else "local" (essh v3's default: a local task with targets
--- runs once per target host, with that host's variables).
function Task:where_it_runs()
  local f = rawget(self, "_fields")
  if f.backend then return f.backend end
  if type(f.script) == "function" and f.targets ~= nil then return "remote" end
  return "local"
end

--- The task's fields, as a table (a copy).
function Task:fields()
  local out = {}
  for k, v in pairs(rawget(self, "_fields")) do out[k] = v end
  return out
end

--- A copy of the task that a run may change (prepare sets its targets, props...).
function Task:copy()
  return setmetatable({ _name = rawget(self, "_name"), _where = rawget(self, "_where"), _fields = self:fields(),
    _defined = rawget(self, "_defined") or self }, getmetatable(self))
end

--- A new task called `name`, defined at `where`.
function M.new(name, where)
  check.field(where, "task " .. check.got(name), "its name", check.name, name)
  return setmetatable({ _name = name, _where = where, _fields = {} }, Task)
end

--- Whether `v` is a task.
function M.is(v)
  return getmetatable(v) == Task
end

return M
