--- essh.cli.discovery: which config files the essh command loads, and the module paths
--- they may require from.
local native = require "essh_native"
local config = require "essh.config"
local flags_of = require "essh.cli.flags"

local fs, env = native.fs, native.env

local M = {}

--- `path` under the user's home directory, or nil without a HOME.
function M.home(path)
  local h = env.get("HOME")
  return h and fs.join(h, path) or nil
end

--- The config files to load, in order: the project's (or --config / ESSH_CONFIG), else the
--- user's; then the override files that exist. Each is `{ path, scope = "local"|"global" }`
--- (what essh.current_registry():type() says while it runs, as in essh v3).
function M.config_files(flags)
  local files = {}
  local function add(path, scope)
    if path and fs.exists(path) then files[#files + 1] = { path, scope = scope or "local" } return true end
  end
  local explicit = flags.config or env.get("ESSH_CONFIG")
  if explicit then
    if not fs.exists(explicit) then flags_of.usage_error(("no config file %s"):format(explicit)) end
    files[1] = { explicit, scope = "local" }
    local override = explicit:gsub("(%.[^./]*)$", "_override%1")
    if override ~= explicit then add(override) end
  elseif flags.global then
    add(M.home(".essh/config.lua"), "global")
  elseif not (add(".esshconfig.lua") or add("esshconfig.lua")) then
    add(M.home(".essh/config.lua"), "global")
  end
  if not flags.global and not explicit then add(".esshconfig_override.lua") end
  add(M.home(".essh/config_override.lua"), "global")
  return files
end

-- Lets config files require the user's own modules from ./.essh/lib and ~/.essh/lib.
local function add_lib_paths(flags)
  local dirs = {}
  if not flags.global then dirs[#dirs + 1] = ".essh/lib" end
  dirs[#dirs + 1] = M.home(".essh/lib")
  local parts = {}
  for _, d in ipairs(dirs) do parts[#parts + 1] = d .. "/?.lua;" .. d .. "/?/init.lua" end
  package.path = table.concat(parts, ";") .. ";" .. package.path
end

--- Loads the config files `flags` lead to (or `files`) into a new registry, calling
--- `before_run` once they are read; raises a config error.
function M.load(flags, files, before_run)
  add_lib_paths(flags)
  local loaded, err = config.load_files(files or M.config_files(flags), nil, { before_run = before_run })
  if not loaded then error({ config = err }, 0) end
  return loaded
end

return M
