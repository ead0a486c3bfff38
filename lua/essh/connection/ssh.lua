--- essh.connection.ssh: connections through essh's native SSH client (russh). The host's
--- name is the alias ssh_config's `Host` patterns match and errors name; its `HostName` is the
--- address reached.
local native_ssh = require("essh_native").ssh
local host_of = require "essh.host"
local ssh_args = require "essh.ssh_args"

local M = {}

--- The ssh_config connections read: nil for ~/.ssh/config and /etc/ssh/ssh_config, a path,
--- or false for none (essh -F).
M.ssh_config = nil

--- The options ssh.connect takes for `host`: its name, and its ssh options (after `extra`,
--- settings from ssh's command-line options), which act as a `Host <name>` block read before
--- the user's ssh_config. Keywords the host's IgnoreUnknown lets through are left out, as
--- ssh leaves them.
function M.options(host, extra)
  local config = ssh_args.merge(rawget(host, "config") or {}, extra)
  local known = {}
  for k, v in pairs(config) do
    if host_of.keyword(k) then known[k] = v end
  end
  return { host = host.name, options = known, ssh_config = M.ssh_config }
end

local Connection = {}
Connection.__index = Connection

--- Connects to `host`; nil and a structured error when it cannot be reached.
function M.open(host, extra)
  local session, err = native_ssh.connect(M.options(host, extra))
  if not session then return nil, err end
  return setmetatable({ session = session, host = host }, Connection)
end

function Connection:exec(command, options) return self.session:exec(command, options) end
function Connection:upload(src, dst, options) return self.session:upload(src, dst, options) end
function Connection:download(src, dst, options) return self.session:download(src, dst, options) end
function Connection:interactive(command, options) return self.session:interactive(command, options) end

function Connection:forward(local_port, host, port)
  return self.session:forward_local(local_port, host, port)
end

function Connection:write(path, data, mode)
  local sftp, err = self.session:sftp()
  if not sftp then return nil, err end
  return sftp:write(path, data, mode)
end

function Connection:close() return self.session:close() end

Connection.__tostring = function(self) return "ssh connection to " .. self.host.name end

return M
