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

--- Opens a connection to `host`, with `extra` ssh settings (from ssh's command-line options)
--- ahead of the host's own; nil and a structured error when the host cannot be reached.
function M.open(host, extra)
  local kind, known = M.kind(host.connection)
  if not kind then
    error(("host %s: unknown connection '%s' (known: %s)"):format(host.name, tostring(host.connection), known), 0)
  end
  if kind == require "essh.connection.ssh" and (M.backend or host.ssh_backend) == "openssh" then
    kind = require "essh.connection.openssh"
  end
  return kind.open(host, extra)
end

--- The commands of a host's hooks (a hook or a list, as essh v3's hooks_* fields): each
--- string, and what each function returns (run here with (host, ctx); a function it returns
--- is called in turn; nil adds nothing), joined into one script; nil when there is none.
function M.hook_script(hooks, host, ctx)
  if hooks == nil then return nil end
  if type(hooks) ~= "table" then hooks = { hooks } end
  local lines = {}
  for _, hook in ipairs(hooks) do
    local h = hook
    while type(h) == "function" do h = h(host, ctx) end
    if h ~= nil then
      if type(h) ~= "string" then
        error(("host %s: a hook function must return a command, a function or nil, got a %s"):format(host.name,
          type(h)), 0)
      end
      lines[#lines + 1] = h
    end
  end
  if #lines == 0 then return nil end
  return table.concat(lines, "\n") .. "\n"
end

-- Output of hook commands: a writer for each stream.
local function writer(stream) return function(chunk) stream:write(chunk) end end

--- Runs the hook script of `hooks` here (with bash, as essh v3 did) or over `conn`; its output
--- goes to `out` and `err` (default io.stdout, io.stderr). Raises when it fails.
function M.run_hook(hooks, host, ctx, conn, out, err)
  local script = M.hook_script(hooks, host, ctx)
  if not script then return end
  local options = { on_stdout = writer(out or io.stdout), on_stderr = writer(err or io.stderr) }
  local r, e
  if conn then r, e = conn:exec(script, options) else r, e = process.run({ "bash", "-c", script }, options) end
  if not r then error(e, 0) end
  if not r.ok then
    error(("host %s: hook `%s` failed with exit status %s"):format(host.name, (script:gsub("\n$", ""):gsub("\n", "; ")),
      tostring(r.exitStatus)), 0)
  end
end

--- Runs `work(conn, after_connect)` on a connection to `host`. Options: hooks (run the host's
--- hooks around it: before_connect here, after_connect on the host, after_disconnect here;
--- with after_connect = "give" the after_connect script is handed to work instead, for a login
--- to run before its shell), ssh (extra ssh settings), out, err (where hook output goes).
--- `tell(stage, conn)`, when given, hears "connecting" and then "connected". Returns true when
--- the work is done, or nil, err when the host cannot be reached; raises what a hook or the
--- work raised, once the connection is closed.
function M.around(host, ctx, work, tell, options)
  tell = tell or function() end
  options = options or {}
  local hooks = options.hooks
  if hooks then M.run_hook(host.hooks_before_connect, host, ctx, nil, options.out, options.err) end
  tell("connecting")
  local conn, err = M.open(host, options.ssh)
  if not conn then return nil, err end
  tell("connected", conn)
  local ok, failure = runtime.pcall(function()
    local after_connect
    if hooks and options.after_connect == "give" then
      after_connect = M.hook_script(host.hooks_after_connect, host, ctx)
    elseif hooks then
      M.run_hook(host.hooks_after_connect, host, ctx, conn, options.out, options.err)
    end
    work(conn, after_connect)
  end)
  conn:close()
  if hooks then M.run_hook(host.hooks_after_disconnect, host, ctx, nil, options.out, options.err) end
  if not ok then error(failure, 0) end
  return true
end

return M
