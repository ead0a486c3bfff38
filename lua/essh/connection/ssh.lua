--- essh.connection.ssh: connections through essh's native SSH client (russh). The host's
--- name is the alias ssh_config's `Host` patterns match and errors name; its `HostName` is the
--- address reached.
local native_ssh = require("essh_native").ssh

local M = {}

-- An ssh_config yes/no value as a boolean (nil when unset).
local function yes(v)
  if v == nil then return nil end
  return v == true or (type(v) == "string" and v:lower() == "yes")
end

--- The options ssh.connect takes, from a host's ssh options.
function M.options(host)
  local c = rawget(host, "config") or host
  local port = c.Port and tonumber(c.Port)
  return {
    host = host.name,
    hostname = c.HostName,
    port = port,
    user = c.User,
    identity_file = c.IdentityFile,
    proxy_jump = c.ProxyJump,
    known_hosts_file = c.UserKnownHostsFile,
    hash_known_hosts = yes(c.HashKnownHosts),
    known_hosts = c.StrictHostKeyChecking == "no" and "off"
      or (c.StrictHostKeyChecking == "accept-new" and "accept-new") or nil,
    connect_timeout = c.ConnectTimeout and tonumber(c.ConnectTimeout),
    keepalive_interval = c.ServerAliveInterval and tonumber(c.ServerAliveInterval),
  }
end

local Connection = {}
Connection.__index = Connection

--- Connects to `host`; nil and a structured error when it cannot be reached.
function M.open(host)
  local session, err = native_ssh.connect(M.options(host))
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
