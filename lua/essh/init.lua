--- essh: Lua-first SSH automation.
-- `require "essh"` returns this table and sets no globals.
local native = require "essh_native"
local secret = require "essh.secret"

local M = {
  _VERSION = native.version,
  --- The native core (json, yaml, crypto, base64, ...), as `require "essh_native"` returns it.
  native = native,
  json = native.json,
  yaml = native.yaml,
  crypto = native.crypto,
  base64 = native.base64,
  runtime = native.runtime,
  ssh = native.ssh,
  fs = require "essh.fs",
  env = native.env,
  time = native.time,
  http = native.http,
  watch = native.watch,
  process = native.process,
  template = require "essh.template",
  log = require "essh.log",
  inspect = require "essh.inspect",
  --- `essh.secret(value)`: a value that prints as ****** (see essh.secret).
  secret = secret,
}

-- The DSL, bound to essh's default registry (config files and `require "essh.dsl"` use it).
local config = require "essh.config"
local default = config.new()
M.registry = default.registry
M.host, M.task, M.driver, M.group = default.host, default.task, default.driver, default.group
M.hosts, M.select = default.hosts, default.select

--- Runs a config file into the default registry; the registry, or nil and a file:line error.
function M.load(path)
  return config.load(path, default.registry)
end

return M
