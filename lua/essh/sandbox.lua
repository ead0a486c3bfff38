--- essh.sandbox: the standard library as config files see it. Every way Lua's own library
--- reaches the outside is checked by the permissions in force (essh.permissions), as native
--- functions are: files (`io.open`, `io.lines`, `os.remove`, `loadfile`...) by read and write,
--- programs (`io.popen`, `os.execute`) by run, `os.getenv` by env (a hidden variable reads as
--- unset). What no grant can make safe
--- (`debug`, `string.dump`, `package.loadlib`, binary chunks, C modules, `os.exit`, the real
--- globals) is there only while nothing is limited. Refusals raise the permission error.
--- With no limit in force every function is Lua's own, unchanged.
-- The native checks, never the Lua module's fields, which config code could replace.
local check, restricted = require("essh_native").permissions.check, require("essh_native").permissions.restricted
local native_error = require("essh_native").error

local M = {}

local real_getmetatable, real_setmetatable, real_rawset = getmetatable, setmetatable, rawset
local debug_getmetatable = debug.getmetatable
local type, error, pairs = type, error, pairs

local function need(permission, resource, action)
  local ok, err = check(permission, resource, action)
  if not ok then error(err, 3) end
end

-- Raises unless no policy limits anything.
local function unlimited(action)
  if restricted() then
    error(native_error("permission_denied", ("permission denied: %s is not available while a policy limits what this "
      .. "code may do (an untrusted config, a task's permissions, --allow-* flags)"):format(action),
      { action = action }), 3)
  end
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- The permissions a file mode of io.open needs.
local function open_needs(mode)
  mode = mode or "r"
  local writes = mode:find("[wa+]") ~= nil
  local reads = mode:find("[r+]") ~= nil
  return reads, writes
end

local function guarded_io()
  local g = copy(io)
  local open, lines, input, output, popen, tmpfile = io.open, io.lines, io.input, io.output, io.popen, io.tmpfile
  function g.open(path, mode)
    local reads, writes = open_needs(mode)
    if reads then need("read", path, "io.open") end
    if writes then need("write", path, "io.open") end
    return open(path, mode)
  end
  function g.lines(path, ...)
    if path ~= nil then need("read", path, "io.lines") end
    return lines(path, ...)
  end
  function g.input(file)
    if type(file) == "string" then need("read", file, "io.input") end
    return input(file)
  end
  function g.output(file)
    if type(file) == "string" then need("write", file, "io.output") end
    return output(file)
  end
  function g.popen(command, mode)
    need("run", "sh", "io.popen")
    return popen(command, mode)
  end
  function g.tmpfile()
    need("write", nil, "io.tmpfile")
    return tmpfile()
  end
  return g
end

local function guarded_os()
  local g = copy(os)
  local execute, remove, rename, exit, getenv, tmpname = os.execute, os.remove, os.rename, os.exit, os.getenv, os.tmpname
  function g.execute(command)
    if command ~= nil then need("run", "sh", "os.execute") end
    return execute(command)
  end
  function g.remove(path)
    need("write", path, "os.remove")
    return remove(path)
  end
  function g.rename(from, to)
    need("write", from, "os.rename")
    need("write", to, "os.rename")
    return rename(from, to)
  end
  function g.exit(...)
    unlimited("os.exit")
    return exit(...)
  end
  -- A variable the policy hides reads as unset (the refusal is recorded), so that a config
  -- reading $USER still lists its hosts untrusted.
  function g.getenv(name)
    if not check("env", name, "os.getenv") then return nil end
    return getenv(name)
  end
  function g.tmpname()
    need("write", nil, "os.tmpname")
    return tmpname()
  end
  return g
end

local function guarded_debug()
  local g = {}
  for name, fn in pairs(debug) do
    g[name] = function(...)
      unlimited("debug." .. name)
      return fn(...)
    end
  end
  return g
end

local function guarded_string()
  local g = copy(string)
  local dump = string.dump
  function g.dump(...)
    unlimited("string.dump")
    return dump(...)
  end
  return g
end

-- A chunk's text, refused when binary while something is limited.
local function text_only(chunk, action)
  if type(chunk) == "string" and chunk:byte(1) == 27 then unlimited(action .. " of a binary chunk") end
  if type(chunk) == "function" then
    local first = true
    return function()
      local piece = chunk()
      if first and type(piece) == "string" and piece ~= "" then
        first = false
        if piece:byte(1) == 27 then unlimited(action .. " of a binary chunk") end
      end
      return piece
    end
  end
  return chunk
end

local setfenv = rawget(_G, "setfenv")
local real_load, real_loadstring = load, rawget(_G, "loadstring")

-- Compiles `chunk` (a string or reader) named `name` in `env` (default: the config's).
local function compile(chunk, name, mode, env, default_env, action)
  chunk = text_only(chunk, action)
  if restricted() then mode = "t" end
  env = env or default_env
  if setfenv then
    local f, err
    if type(chunk) == "string" then f, err = real_loadstring(chunk, name) else f, err = real_load(chunk, name) end
    if f then setfenv(f, env) end
    return f, err
  end
  return real_load(chunk, name, mode or "bt", env)
end

-- Names that stand for the real globals, which the sandbox hides while something is limited.
local HIDDEN = { _G = true, io = true, os = true, debug = true, package = true, string = true, ffi = true,
  jit = true }
-- Modules of the standard library that reach nothing outside.
local SAFE = { table = true, math = true, coroutine = true, utf8 = true, bit32 = true, bit = true }

--- The guarded globals of a config environment `env` (chunks it loads run there too), and a
--- `require` for it: essh's modules as they are, the others (Lua files only, while something
--- is limited) loaded into `env`.
function M.globals(env, essh_require)
  local g = {
    io = guarded_io(), os = guarded_os(), debug = guarded_debug(), string = guarded_string(), _G = env,
  }
  local real_package = package
  local package_g = copy(package)
  function package_g.loadlib(...)
    unlimited("package.loadlib")
    return real_package.loadlib(...)
  end
  package_g.loaded = real_setmetatable({}, {
    __index = function(_, name)
      if g[name] ~= nil then return g[name] end
      if HIDDEN[name] and restricted() then return nil end
      return real_package.loaded[name]
    end,
    __newindex = function(_, name, value) real_package.loaded[name] = value end,
  })
  g.package = package_g

  function g.load(chunk, name, mode, chunk_env)
    return compile(chunk, name, mode, chunk_env, env, "load")
  end
  if real_loadstring then
    function g.loadstring(text, name) return compile(text, name, nil, nil, env, "loadstring") end
  end
  function g.loadfile(path, mode, chunk_env)
    if path == nil then unlimited("loadfile of stdin") return loadfile() end
    need("read", path, "loadfile")
    local f, err = io.open(path, "rb")
    if not f then return nil, err end
    local text = f:read("*a")
    f:close()
    return compile(text:gsub("^#[^\n]*", ""), "@" .. path, mode, chunk_env, env, "loadfile")
  end
  function g.dofile(path)
    local f, err = g.loadfile(path)
    if not f then error(err, 2) end
    return f()
  end
  function g.getmetatable(v)
    if type(v) == "string" then unlimited("getmetatable of strings") end
    return real_getmetatable(v)
  end
  function g.rawset(t, k, v)
    local mt = debug_getmetatable(t)
    if mt and mt.__metatable ~= nil then
      error(("rawset: %s is protected"):format(tostring(real_getmetatable(t))), 2)
    end
    return real_rawset(t, k, v)
  end
  for _, name in ipairs { "getfenv", "setfenv", "module", "newproxy" } do
    local real = rawget(_G, name)
    if real then
      g[name] = function(...)
        unlimited(name)
        return real(...)
      end
    end
  end

  local loaded_here = {}
  local short_names = {}
  for _, module in ipairs(require("essh.modules").names()) do short_names[module] = true end
  function g.require(name)
    if type(name) ~= "string" then return essh_require(name) end
    if HIDDEN[name] and g[name] ~= nil then return g[name] end
    if not restricted() or name == "essh" or name:match("^essh[._]") or short_names[name] then
      return essh_require(name)
    end
    if SAFE[name] then return real_package.loaded[name] end
    if HIDDEN[name] then unlimited("require \"" .. name .. "\"") end
    if loaded_here[name] ~= nil then return loaded_here[name] end
    local path = M.search(name, real_package.path)
    if not path then
      error(("module '%s' not found in package.path (C modules are not available while a policy limits what "
        .. "this code may do)"):format(name), 2)
    end
    local chunk, err = g.loadfile(path)
    if not chunk then error(err, 2) end
    local result = chunk(name, path)
    if result == nil then result = true end
    loaded_here[name] = result
    return result
  end
  return g
end

--- The file `name` (a module name) is found at in `path` (package.path's form), or nil.
function M.search(name, path)
  local file = name:gsub("%.", "/")
  for template in path:gmatch("[^;]+") do
    local candidate = template:gsub("%?", file)
    local f = io.open(candidate, "rb")
    if f then
      f:close()
      return candidate
    end
  end
end

return M
