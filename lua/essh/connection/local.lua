--- essh.connection.local: a host's work done on this machine, through the same interface as
--- an SSH connection: commands run by the local shell, transfers are file copies. For hosts
--- that are this machine, and for testing tasks and failure policies without a server.
local native = require "essh_native"
local process, fs = native.process, native.fs

local M = {}

local Connection = {}
Connection.__index = Connection

--- A connection to `host` on this machine (it cannot be unreachable).
function M.open(host)
  return setmetatable({ host = host }, Connection)
end

function Connection.exec(_, command, options) return process.run(command, options) end

-- Copies a file, as an upload or download does: its mode set, the bytes copied returned.
local function copy(src, dst, options)
  local ok, err = fs.copy(src, dst)
  if not ok then return nil, err end
  if options and options.mode then
    ok, err = fs.chmod(dst, options.mode)
    if not ok then return nil, err end
  end
  return fs.stat(dst).size
end

function Connection.upload(_, src, dst, options) return copy(src, dst, options) end
function Connection.download(_, src, dst, options) return copy(src, dst, options) end

function Connection.write(_, path, data, mode)
  return fs.write(path, data, mode and { mode = mode } or nil)
end

function Connection.interactive(_, command)
  -- A command line runs through sh; without one, the user's shell.
  local program = command and "sh" or os.getenv("SHELL") or "sh"
  local allowed, denied = native.permissions.check("run", program, "session:interactive")
  if not allowed then return nil, denied end
  local status = require("essh.shell").exit_status(os.execute(command or program))
  return { exitStatus = status, exit_status = status, ok = status == 0 }
end

function Connection.forward()
  error("a local connection has no tunnels: the ports are on this machine already", 2)
end

function Connection.close() end

Connection.__tostring = function(self) return "local connection for " .. self.host.name end

return M
