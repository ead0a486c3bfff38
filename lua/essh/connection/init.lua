--- essh.connection: the one road from a host to a connection, and the lifecycle around it.
---
--- A host's `connection` field names the kind of connection its work goes through: "ssh" (the
--- default) or "local" (this machine, for tests and local hosts). An ssh connection goes
--- through essh's native client, or the system's OpenSSH when the host says
--- `ssh_backend = "openssh"` (or a run sets `backend`, as `essh --openssh` does).
--- Every kind gives the same small interface, which the runner and the CLI talk to:
---
---     conn:exec(command, options)           -> result | nil, err   (exitStatus, stdout, stderr, ok)
---     conn:upload(local, remote, options)   -> bytes | nil, err
---     conn:download(remote, local, options) -> bytes | nil, err
---     conn:write(path, data, mode)          -> true | nil, err
---     conn:interactive(command, options)    -> result | nil, err
---     conn:forward(local_port, host, port)  -> forward | nil, err
---     conn:close()
local runtime = require("essh_native").runtime
local process = require("essh_native").process

local M = {}

--- The kinds of connection, by the name a host's `connection` field gives.
M.KINDS = { ssh = "essh.connection.ssh", ["local"] = "essh.connection.local" }

--- The ssh backend of every host in this run, when set ("native" or "openssh").
M.backend = nil

--- The module of the connection kind `name`, or nil and the list of known kinds.
function M.kind(name)
  local module = M.KINDS[name or "ssh"]
  if not module then
    local names = {}
    for k in pairs(M.KINDS) do names[#names + 1] = k end
    table.sort(names)
    return nil, table.concat(names, ", ")
  end
  return require(module)
end

--- Opens a connection to `host`; nil and a structured error when the host cannot be reached.
function M.open(host)
  local kind, known = M.kind(host.connection)
  if not kind then
    error(("host %s: unknown connection '%s' (known: %s)"):format(host.name, tostring(host.connection), known), 0)
  end
  if kind == require "essh.connection.ssh" and (M.backend or host.ssh_backend) == "openssh" then
    kind = require "essh.connection.openssh"
  end
  return kind.open(host)
end

--- Runs a host hook: a function gets (host, ctx); a string is a command, run over `conn`
--- when given, else on this machine. Raises when it fails.
function M.run_hook(hook, host, ctx, conn)
  if hook == nil then return end
  if type(hook) == "function" then return hook(host, ctx) end
  local r, err
  if conn then r, err = conn:exec(hook) else r, err = process.run(hook) end
  if not r then error(err, 0) end
  if not r.ok then
    error(("hook `%s` failed with exit status %s: %s"):format(hook, tostring(r.exitStatus), r.stderr), 0)
  end
end

--- Runs `work(conn)` on a connection to `host`, between the host's hooks: before_connect (on
--- this machine), connect, after_connect (on the host), work, close, after_disconnect (on this
--- machine). `tell(stage, conn)`, when given, hears "connecting" and then "connected". Returns
--- true when the work is done, or nil, err when the host cannot be reached; raises what a hook
--- or the work raised, once the connection is closed.
function M.around(host, ctx, work, tell)
  tell = tell or function() end
  M.run_hook(host.before_connect, host, ctx)
  tell("connecting")
  local conn, err = M.open(host)
  if not conn then return nil, err end
  tell("connected", conn)
  local ok, failure = runtime.pcall(function()
    M.run_hook(host.after_connect, host, ctx, conn)
    work(conn)
  end)
  conn:close()
  M.run_hook(host.after_disconnect, host, ctx)
  if not ok then error(failure, 0) end
  return true
end

return M
