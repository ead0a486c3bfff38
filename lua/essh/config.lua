--- essh.config: the configuration language: `host`, `task`, `driver`, `group`, bound to a registry,
--- and config files run in an environment of their own (`require "essh.dsl"` gives a plain script
--- the same globals). `config.load(path [, registry])` runs a config file.
local registry_of = require "essh.registry"
local host_of = require "essh.host"
local query = require "essh.query"
local check = require "essh.check"

local M = {}

-- "file:line" of the code `level` frames above the caller.
local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info then return "?" end
  local source = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return source .. ":" .. (info.currentline or 0)
end

local NAMES = check.one_or_list(check.name, "a host name or tag")
local SCRIPT_LINES = check.list_of(function(v) return type(v) == "string" end, "strings")

--- What each field of a task definition must hold (see essh.TaskSpec in types/essh.lua).
local TASK_CHECKS = {
  description = check.text, hidden = check.boolean, disabled = check.boolean, targets = NAMES, filters = NAMES,
  backend = check.one_of { "remote", "local" },
  parallel = check.either("true, false or a whole number above 0", check.boolean,
    function(v) return type(v) == "number" and v >= 1 and v % 1 == 0 end),
  prefix = check.either("true, false or a prefix template (a string)", check.boolean, check.text),
  privileged = check.boolean, user = check.name,
  env = check.map_of(check.name, function(v) return type(v) == "string" or type(v) == "number" end,
    "a table of variable names to strings or numbers"),
  props = check.map_of(check.text, check.scalar, "a table of names to strings, numbers or booleans"),
  args = check.list_of(check.scalar, "strings or numbers"), driver = check.name, timeout = check.positive,
  on_failure = check.either('"abort", "continue" or a percentage (0 to 100)', check.one_of { "abort", "continue" },
    function(v) return type(v) == "number" and v >= 0 and v <= 100 end),
  prepare = check.func,
  script = check.either("a script (a string), a list of lines or a Lua function",
    function(v) return type(v) == "string" end, SCRIPT_LINES, check.func),
  override = check.boolean, stdin = check.boolean,
}

--- The fields a task definition may have.
M.TASK_FIELDS = {}
for k in pairs(TASK_CHECKS) do M.TASK_FIELDS[k] = true end

local Group = {}
Group.__index = Group

--- The DSL functions bound to `registry` (a new one when nil).
function M.new(registry)
  registry = registry or registry_of.new()
  local dsl = { registry = registry }

  local pending = {} -- hosts defined twice by `host "x"` alone: fine only if `{ override = true }` follows

  function dsl.host(name, spec)
    local at = where(2)
    local h = host_of.new(name, nil, at)
    rawset(h, "_registry", registry)
    if spec ~= nil then
      registry:add("host", name, h, at, type(spec) == "table" and spec.override)
      return host_of.apply(h, spec)
    end
    local ok, err = pcall(registry.add, registry, "host", name, h, at)
    if not ok then
      rawset(h, "_conflict", err)
      pending[#pending + 1] = h
    end
    return h
  end

  --- Raises the first definition conflict left unresolved (call once the config has run).
  function dsl.finish()
    for _, h in ipairs(pending) do
      local conflict = rawget(h, "_conflict")
      if conflict then error(conflict, 0) end
    end
    pending = {}
    registry:check()
    return registry
  end

  local function define_task(name, spec, at)
    if type(spec) == "string" or (type(spec) == "table" and spec[1] ~= nil and spec.script == nil) then
      spec = { script = spec }
    end
    check.field(at, "task " .. check.got(name), "its name", check.name, name)
    if type(spec) ~= "table" then error(("%s: task %s: expected a table or a script"):format(at, name), 0) end
    for key, value in pairs(spec) do
      if not TASK_CHECKS[key] then error(("%s: task %s: unknown field '%s'"):format(at, name, tostring(key)), 0) end
      check.field(at, "task " .. name, key, TASK_CHECKS[key], value)
    end
    local t = { name = name, _where = at }
    for k, v in pairs(spec) do t[k] = v end
    t.backend = t.backend or (t.targets and "remote" or "local")
    if t.backend ~= "remote" and t.backend ~= "local" then
      error(("%s: task %s: backend must be \"remote\" or \"local\""):format(at, name), 0)
    end
    return registry:add("task", name, t, at, spec.override)
  end

  function dsl.task(name, spec)
    local at = where(2)
    if spec ~= nil then return define_task(name, spec, at) end
    return function(s) return define_task(name, s, at) end
  end

  function dsl.driver(name, spec)
    local at = where(2)
    check.field(at, "driver " .. check.got(name), "its name", check.name, name)
    local function define(s)
      if type(s) == "string" or type(s) == "function" then s = { template = s } end
      if type(s) ~= "table" then error(("%s: driver %s: expected a template or a table"):format(at, name), 0) end
      for key, value in pairs(s) do
        if key ~= "template" and key ~= "override" then
          error(("%s: driver %s: unknown field '%s'"):format(at, name, tostring(key)), 0)
        end
        if key == "override" then check.field(at, "driver " .. name, key, check.boolean, value) end
      end
      local d = { name = name, _where = at, template = s.template }
      if d.template == nil then error(("%s: driver %s: a template is required"):format(at, name), 0) end
      check.field(at, "driver " .. name, "template", check.either("a template (a string) or a function",
        function(v) return type(v) == "string" end, check.func), d.template)
      return registry:add("driver", name, d, at, s.override)
    end
    if spec ~= nil then return define(spec) end
    return define
  end

  -- Members (hosts and nested groups) get the group's fields they do not set themselves.
  local function apply_defaults(member, defaults)
    if getmetatable(member) == Group then
      for _, m in ipairs(member.members) do apply_defaults(m, defaults) end
    elseif host_of.is(member) then
      for key, value in pairs(defaults) do
        if member[key] == nil or (key == "tags" and #member.tags == 0) then member[key] = value end
      end
    end
  end

  local function member(at, v)
    if getmetatable(v) ~= Group and not host_of.is(v) then
      error(("%s: group: members must be hosts or groups, got %s"):format(at, check.got(v)), 0)
    end
    return v
  end

  function dsl.group(spec)
    local at = where(2)
    if type(spec) ~= "table" then error(("%s: group: expected a table, got %s"):format(at, check.got(spec)), 0) end
    local g = setmetatable({ members = {}, defaults = {} }, Group)
    for k, v in pairs(spec) do
      if type(k) == "number" then
        g.members[#g.members + 1] = member(at, v)
      elseif k == "hosts" then
        if type(v) ~= "table" then error(("%s: group: hosts must be a list, got %s"):format(at, check.got(v)), 0) end
        for _, h in ipairs(v) do g.members[#g.members + 1] = member(at, h) end
      else
        local canonical = host_of.check_field(at, "group", k, v)
        g.defaults[canonical] = v
      end
    end
    -- Inner groups applied their defaults already, so their members' values win.
    for _, m in ipairs(g.members) do apply_defaults(m, g.defaults) end
    return g
  end

  function dsl.hosts(targets) return query.new(registry, targets):list() end
  function dsl.select(targets) return query.new(registry, targets) end
  return dsl
end

-- Modules a config file can `require` by their short names: "json" is essh.json.
local SHORT_NAMES = {}
for _, name in ipairs(require("essh.modules").names()) do SHORT_NAMES[name] = "essh." .. name end

--- `require` as config files see it: essh's modules first.
function M.require(name)
  local mapped = SHORT_NAMES[name]
  return require(mapped or name)
end

local searchers = package.searchers or package.loaders -- luacheck: ignore 143

-- Finds essh's module for a short name, ahead of the other searchers.
local function short_name_searcher(name)
  local mapped = SHORT_NAMES[name]
  if not mapped then return nil end
  return function() return require(mapped) end, mapped
end

--- Makes `require` of the short names give essh's modules in the whole program (what
--- `require "essh.dsl"` does); idempotent.
function M.use_short_names()
  for _, searcher in ipairs(searchers) do
    if searcher == short_name_searcher then return end
  end
  table.insert(searchers, 1, short_name_searcher)
end

--- The environment of a config file: the DSL, `essh`, `require`, then the real globals.
function M.environment(dsl)
  -- `essh` there is the library bound to the registry the file loads into.
  local essh = setmetatable({ registry = dsl.registry, host = dsl.host, task = dsl.task, driver = dsl.driver,
    group = dsl.group, hosts = dsl.hosts, select = dsl.select }, { __index = require "essh" })
  local env = { host = dsl.host, task = dsl.task, driver = dsl.driver, group = dsl.group, essh = essh,
    require = M.require }
  return setmetatable(env, { __index = _G })
end

local loadstring, setfenv = rawget(_G, "loadstring"), rawget(_G, "setfenv")

-- Compiles the file at `path` as a chunk running in `env`.
local function compile(path, env)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  if setfenv then
    local chunk, load_err = loadstring(text, "@" .. path)
    if chunk then setfenv(chunk, env) end
    return chunk, load_err
  end
  return load(text, "@" .. path, "t", env)
end

--- Runs the config files `paths` in order, in one environment (so later files can patch what
--- earlier ones defined), into `registry` (a new one when nil); returns the registry, or nil
--- and an error naming the file and line.
function M.load_files(paths, registry)
  local dsl = M.new(registry)
  local env = M.environment(dsl)
  for _, path in ipairs(paths) do
    local chunk, err = compile(path, env)
    if not chunk then return nil, err end
    local ok, run_err = pcall(chunk)
    if not ok then return nil, tostring(run_err) end
  end
  local ok, err = pcall(dsl.finish)
  if not ok then return nil, tostring(err) end
  return dsl.registry
end

--- Runs the config file at `path` into `registry` (a new one when nil); returns the registry,
--- or nil and an error naming the file and line.
function M.load(path, registry)
  return M.load_files({ path }, registry)
end

return M
