--- essh.group: default fields for a set of definitions of one kind, as essh v3's groups:
---
---     group { User = "deploy", host "web1" {...}, host "web2" {...} }
---     group { hidden = true, backend = "remote", task "a" {...}, task "b" {...} }
---     group { hosts = { web1 = {...}, web2 = {...} } }      (also tasks = {...}, drivers = {...})
---
--- A member keeps the fields it sets itself; a group holds hosts, tasks or drivers, not a mix.
--- Groups of hosts nest: an inner group's defaults win over the outer one's.
local check = require "essh.check"
local host_of = require "essh.host"
local task_of = require "essh.task"

local M = {}

local Group = {}
Group.__index = Group

local KINDS = { hosts = "host", tasks = "task", drivers = "driver" }

-- The kind of a member ("host", "task", "driver", or the kind of a nested group), or nil.
local function kind_of(v, is_driver)
  if host_of.is(v) then return "host" end
  if task_of.is(v) then return "task" end
  if is_driver(v) then return "driver" end
  if getmetatable(v) == Group then return v.kind or "host" end
  return nil
end

-- Whether `member` sets `key` itself.
local function has(member, key)
  if host_of.is(member) then
    return member[key] ~= nil and not (host_of.keyword(key) == nil and key == "tags" and #member.tags == 0)
  end
  return rawget(member, "_fields")[key] ~= nil
end

local function apply_defaults(member, defaults, at)
  if getmetatable(member) == Group then
    for _, m in ipairs(member.members) do apply_defaults(m, defaults, at) end
    return
  end
  for key, value in pairs(defaults) do
    if not has(member, key) then
      if host_of.is(member) then
        host_of.set(member, key, value, at)
      elseif task_of.is(member) then
        task_of.set(member, key, value, at)
      else
        member[key] = value
      end
    end
  end
end

-- Checks a default field as the definitions of `kind` check it, at `at`.
local function check_default(kind, at, key, value)
  if kind == "host" then return host_of.check_field(at, "group", key, value) end
  if kind == "task" then
    if not task_of.CHECKS[key] then error(("%s: group: unknown task field '%s'"):format(at, tostring(key)), 0) end
    check.field(at, "group", key, task_of.CHECKS[key], value)
  end
  return key
end

--- The `group` function of a DSL (its host, task and driver functions define the v3 map forms).
function M.bind(dsl)
  local is_driver = require("essh.config").is_driver
  return function(spec)
    local at = check.caller(2)
    if type(spec) ~= "table" then error(("%s: group: expected a table, got %s"):format(at, check.got(spec)), 0) end
    local g = setmetatable({ members = {}, defaults = {} }, Group)
    local function add(v)
      local kind = kind_of(v, is_driver)
      if not kind then
        error(("%s: group: members must be hosts, tasks, drivers or groups, got %s"):format(at, check.got(v)), 0)
      end
      if g.kind and g.kind ~= kind then
        error(("%s: group: a group holds one kind of definition (hosts, tasks or drivers), not %ss and %ss")
          :format(at, g.kind, kind), 0)
      end
      g.kind = kind
      g.members[#g.members + 1] = v
    end
    for k, v in pairs(spec) do
      if type(k) == "number" then
        add(v)
      elseif KINDS[k] then
        if type(v) ~= "table" then error(("%s: group: %s must be a table, got %s"):format(at, k, check.got(v)), 0) end
        if v[1] ~= nil then
          for _, member in ipairs(v) do add(member) end
        else
          local names = {}
          for name in pairs(v) do names[#names + 1] = name end
          table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
          for _, name in ipairs(names) do add(dsl[KINDS[k]](name, v[name])) end
        end
      end
    end
    for k, v in pairs(spec) do
      if type(k) == "string" and not KINDS[k] then g.defaults[check_default(g.kind or "host", at, k, v)] = v end
    end
    for _, m in ipairs(g.members) do apply_defaults(m, g.defaults, at) end
    return g
  end
end

return M
