--- essh.config: the configuration language: `host`, `task`, `driver`, `group`, bound to a registry,
--- and config files run in an environment of their own (`require "essh.dsl"` gives a plain script
--- the same globals). `config.load(path [, registry])` runs a config file.
local registry_of = require "essh.registry"
local host_of = require "essh.host"
local query = require "essh.query"
local check = require "essh.check"
local template = require "essh.template"
local gotemplate = require("essh_native").gotemplate

local M = {}

local function where(level)
  local at = check.caller(level + 1) -- not a tail call: this frame counts
  return at
end

local task_of = require "essh.task"
local group_of = require "essh.group"
local debugging = require "essh.debugging"

-- essh v3 had `.name` as a method (`h:name()`, `t.name()`), essh has it as a field: a string
-- called returns itself, so both work.
do
  local string_mt = getmetatable("")
  if string_mt and string_mt.__call == nil then string_mt.__call = function(s) return s end end
end

--- The fields a task definition may have.
M.TASK_FIELDS = task_of.FIELDS

local Driver = {}
Driver.__index = function(self, key)
  local value = rawget(self, "_fields")[key]
  if value ~= nil then return value end
  return Driver[key]
end

-- Sets a field of a driver: `template` (essh's engine), `engine` (Go text/template, as essh v3),
-- or any other field, which its templates see (.Driver.Props in Go templates).
local function set_driver_field(d, key, value, at)
  local what = "driver " .. d.name
  if type(key) ~= "string" then error(("%s: %s: unexpected %s key in its definition"):format(at, what, type(key)), 0) end
  if key == "template" or key == "engine" then
    check.field(at, what, key, check.either("a template (a string) or a function",
      function(v) return type(v) == "string" end, check.func), value)
    if type(value) == "string" then
      local ok, err
      if key == "template" then
        ok, err = pcall(template.compile, value, what)
      else
        ok, err = gotemplate.check(value, { name = what })
      end
      if not ok then error(("%s: %s: its %s does not parse: %s"):format(at, what, key, tostring(err)), 0) end
    end
  elseif key == "override" then
    check.field(at, what, key, check.boolean, value)
  end
  rawget(d, "_fields")[key] = value
end

Driver.__newindex = function(self, key, value)
  local info = debug.getinfo(2, "Sl")
  set_driver_field(self, key, value, info and (info.short_src .. ":" .. (info.currentline or 0)) or "?")
end

--- The DSL functions bound to `registry` (a new one when nil).
function M.new(registry)
  registry = registry or registry_of.new()
  local dsl = { registry = registry }

  -- A host replaces one of the same name, as in essh v3: `host "x"` alone gives the new host,
  -- whose fields are then set.
  local function define_host(name, spec, at)
    local h = host_of.new(name, nil, at)
    rawset(h, "_registry", registry)
    registry:add("host", name, h, at)
    if spec ~= nil then return host_of.apply(h, spec) end
    return h
  end

  --- `host "name" {...}`, `host("name", {...})`, `host "name"` (fields set later), or essh v3's
  --- `host { name1 = {...}, name2 = {...} }` (a table of the hosts, by name).
  function dsl.host(name, spec)
    local at = where(2)
    if type(name) == "table" and spec == nil then
      local names = {}
      for k in pairs(name) do
        if type(k) ~= "string" then error(("%s: host: expected host names as keys, got %s"):format(at, check.got(k)), 0) end
        if type(name[k]) ~= "table" then
          error(("%s: host %s: expected a table of fields, got %s"):format(at, k, check.got(name[k])), 0)
        end
        names[#names + 1] = k
      end
      table.sort(names)
      local hosts = {}
      for _, n in ipairs(names) do hosts[n] = define_host(n, name[n], at) end
      return hosts
    end
    return define_host(name, spec, at)
  end

  --- `inventory.aws {...}`, `inventory.mdns {...}`: hosts from EC2 and mDNS (essh.inventory).
  dsl.inventory = require("essh.inventory").bind(dsl.host)

  -- Runs the checks that need the whole config; raises the first broken one.
  function dsl.finish()
    require("essh.permissions").apply_pending(registry)
    registry:check()
    for _, h in ipairs(registry:list("host")) do host_of.check_unknown(h) end
    for _, d in ipairs(registry:list("driver")) do
      if d.template == nil and d.engine == nil then
        error(("%s: driver %s: a template (or essh v3's engine) is required"):format(d._where, d.name), 0)
      end
    end
    for _, t in ipairs(registry:list("task")) do
      local driver = t.driver
      if driver and driver ~= "default" and not registry:get("driver", driver) then
        error(("%s: task %s: no driver named %s"):format(t._where or "?", t.name, driver), 0)
      end
    end
    for _, r in ipairs(registry.replaced) do
      debugging.say(("%s %s defined at %s replaces the one at %s"):format(r.kind, r.name, r.now, r.was))
    end
    registry.replaced = {}
    return registry
  end

  local function define_task(name, spec, at)
    local t = task_of.new(name, at)
    registry:add("task", name, t, at)
    if spec ~= nil then task_of.apply(t, spec) end
    return t
  end

  --- `task "name" {...}`, `task "name" "script"`, `task("name", {...})`, `task "name"` (fields
  --- set later), or an unnamed `task {...}`, which is the task `default`.
  function dsl.task(name, spec)
    local at = where(2)
    if type(name) == "table" and spec == nil then return define_task("default", name, at) end
    return define_task(name, spec, at)
  end

  --- `driver "name" {...}` (fields: template, engine, and any others its templates read),
  --- `driver "name"` (fields set later), or an unnamed `driver {...}`: the default driver.
  function dsl.driver(name, spec)
    local at = where(2)
    if type(name) == "table" and spec == nil then name, spec = "default", name end
    check.field(at, "driver " .. check.got(name), "its name", check.name, name)
    local d = setmetatable({ name = name, _where = at, _fields = {} }, Driver)
    registry:add("driver", name, d, at)
    if spec ~= nil then d(spec) end
    return d
  end

  dsl.group = group_of.bind(dsl)

  --- `essh.command "name" { description = "...", run = function(args) ... end }`: a command of
  --- the essh command line, `essh name args...`; run's return is the exit code.
  function dsl.command(name, spec)
    local at = where(2)
    local function define(s)
      return registry:add("command", name, require("essh.command").new(name, s, at), at)
    end
    if spec ~= nil then return define(spec) end
    return define
  end

  function dsl.hosts(targets) return query.new(registry, targets):list() end
  function dsl.select(targets) return query.new(registry, targets) end
  return dsl
end

--- Applies a definition to a driver: a table of fields, or its template.
function Driver:__call(spec)
  local at = rawget(self, "_where")
  if type(spec) == "string" or type(spec) == "function" then spec = { template = spec } end
  if type(spec) ~= "table" then
    error(("%s: driver %s: expected a template or a table, got %s"):format(at, self.name, check.got(spec)), 0)
  end
  for key, value in pairs(spec) do set_driver_field(self, key, value, at) end
  return self
end

--- Whether `v` is a driver.
function M.is_driver(v)
  return getmetatable(v) == Driver
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

--- essh v3's essh table entries, over `dsl`: ssh_config (the generated ssh_config's path;
--- settable), version, debug(msg), select_hosts(...), current_registry().
function M.v3_entries(dsl, scope)
  local ssh_config_file = require "essh.ssh_config_file"
  local entries = {
    version = require("essh_native").version,
    debug = function(msg) debugging.say(tostring(msg)) end,
    select_hosts = function(selection) return query.new(dsl.registry, selection) end,
    current_registry = function()
      return { type = function() return scope.current or "local" end }
    end,
  }
  return entries, function(t, k)
    if k == "ssh_config" then return ssh_config_file.path() end
    local base = rawget(t, "_base")
    return entries[k] or (base and base[k])
  end, function(t, k, v)
    if k == "ssh_config" then ssh_config_file.set(v) else rawset(t, k, v) end
  end
end

--- The environment of a config file: the DSL, `essh`, `require`, then the real globals.
function M.environment(dsl, scope)
  -- `essh` there is the library bound to the registry the file loads into.
  local _, index, newindex = M.v3_entries(dsl, scope or {})
  local essh = setmetatable({ _base = require "essh", registry = dsl.registry, host = dsl.host, task = dsl.task,
    driver = dsl.driver, group = dsl.group, hosts = dsl.hosts, select = dsl.select, command = dsl.command,
    inventory = dsl.inventory },
    { __index = index, __newindex = newindex })
  local env = { host = dsl.host, task = dsl.task, driver = dsl.driver, group = dsl.group, essh = essh }
  -- Lua's own library, checked by the permissions in force (essh.sandbox).
  local guarded = require("essh.sandbox").globals(env, M.require)
  env.require = guarded.require
  return setmetatable(env, { __metatable = false, __index = function(_, key)
    local value = guarded[key]
    if value ~= nil then return value end
    return _G[key]
  end })
end

local loadstring, setfenv = rawget(_G, "loadstring"), rawget(_G, "setfenv")

-- Compiles the file at `path` as a chunk running in `env`.
local function compile(path, env)
  local allowed, denied = require("essh_native").permissions.check("read", path, "essh.load")
  if not allowed then return nil, tostring(denied) end
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
--- and an error naming the file and line. An item of `paths` may be `{ path, scope = "global" }`
--- (what essh.current_registry():type() says while it runs; default "local"). Every file is
--- read before the first runs, then `options.before_run()` (when given): the essh command
--- limits what the files may do there.
function M.load_files(paths, registry, options)
  local dsl = M.new(registry)
  local scope = {}
  local env = M.environment(dsl, scope)
  local chunks = {}
  for i, item in ipairs(paths) do
    local path = type(item) == "table" and item[1] or item
    local chunk, err = compile(path, env)
    if not chunk then return nil, err end
    chunks[i] = chunk
  end
  if options and options.before_run then options.before_run() end
  for i, item in ipairs(paths) do
    scope.current = type(item) == "table" and item.scope or "local"
    debugging.say("loading config file: " .. (type(item) == "table" and item[1] or item))
    local ok, run_err = pcall(chunks[i])
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
