--- essh.connection.openssh: a host's work through the system's OpenSSH client, for what the
--- native client cannot do (GSSAPI, PKCS#11, security keys, any ssh_config keyword). A host
--- picks it with `ssh_backend = "openssh"` (or `essh --openssh`). The connection is one
--- ControlMaster for the host: every command, transfer and session reuses it. Its ssh_config
--- is generated (mode 0600, in a private directory removed on close): the host's block, then
--- the ssh_config the native client would read.
local native = require "essh_native"
local process, fs, native_ssh = native.process, native.fs, native.ssh
local shell = require "essh.shell"
local native_connection = require "essh.connection.ssh"
local check = native.permissions.check

-- The backend runs ssh and scp, which a task's permissions must grant (run) beside its hosts
-- (ssh, checked here as the native client checks them); a transfer's local file is checked too.

local M = {}

--- The ssh and scp programs run.
M.ssh, M.scp = "ssh", "scp"

-- The error kind of a failed ssh, from what it wrote on stderr.
local function failure(host, stderr, what)
  local text = (stderr or ""):gsub("%s+$", "")
  local kind = "network"
  if text:find("Permission denied", 1, true) or text:find("Too many authentication failures", 1, true) then
    kind = "auth"
  elseif text:find("Host key verification failed", 1, true) or text:find("IDENTIFICATION HAS CHANGED", 1, true)
    or text:find("host key for .- has changed") or text:find("No %S+ host key is known") then
    kind = "host_key"
  elseif text:find("timed out", 1, true) then
    kind = "timeout"
  end
  local message = ("%s %s failed: %s"):format(what, host.name, text ~= "" and text or "ssh gave no reason")
  return native.error(kind, message, { host = host.name })
end

local function includes()
  local source = native_connection.ssh_config
  if source == false then return "" end
  if source then return "Match all\n  Include " .. shell.quote(source) .. "\n" end
  -- $HOME's, as the native client reads it (OpenSSH's ~ is the passwd entry's home).
  local home = os.getenv("HOME") or "~"
  return "Match all\n  Include " .. shell.quote(home .. "/.ssh/config") .. "\n  Include /etc/ssh/ssh_config\n"
end

local Connection = {}
Connection.__index = Connection

-- ssh's options for a client of this connection's master.
function Connection:options(extra)
  local argv = { "-F", self.config, "-o", "ControlPath=" .. self.socket, "-o", "BatchMode=yes" }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return argv
end

local function argv_of(program, options, ...)
  local argv = { program }
  for _, a in ipairs(options) do argv[#argv + 1] = a end
  for _, a in ipairs({ ... }) do argv[#argv + 1] = a end
  return argv
end

--- Connects to `host`: starts its ControlMaster; nil and a structured error when it cannot.
function M.open(host, extra)
  for _, name in ipairs { host.name, host.HostName } do
    local allowed, denied = check("ssh", tostring(name), "ssh.connect")
    if not allowed then return nil, denied end
  end
  local dir, err = fs.tempdir("essh-openssh-")
  if not dir then return nil, err end
  local self = setmetatable({ host = host, dir = dir, config = fs.join(dir, "ssh_config"),
    socket = fs.join(dir, "master") }, Connection)
  -- Settings of ssh's command-line options come first: the first value obtained wins.
  local first = extra and next(extra) and require("essh.host").new(host.name, extra):ssh_config() or ""
  local ok, werr = fs.write(self.config, first .. host:ssh_config() .. includes(), { mode = 384 })
  if not ok then
    fs.remove(dir, { recursive = true })
    return nil, werr
  end
  -- The master goes to the background once authenticated (-f), with no session of its own
  -- (-N), and passes on whatever variables its clients set (SendEnv *): each command's own.
  local r, rerr = process.run(argv_of(M.ssh, self:options { "-o", "ControlMaster=yes", "-o", "ControlPersist=yes",
    "-o", "SendEnv=*", "-N", "-f" }, host.name))
  if not r or r.exitStatus ~= 0 then
    fs.remove(dir, { recursive = true })
    return nil, r and failure(host, r.stderr, "connecting to") or rerr
  end
  return self
end

-- `-o SetEnv=...` for a command's variables (as the native client's env requests, the server
-- must accept them).
local function env_options(env, argv)
  local names = {}
  for k in pairs(env or {}) do names[#names + 1] = k end
  table.sort(names)
  if #names == 0 then return end
  local pairs_text = {}
  for _, k in ipairs(names) do pairs_text[#pairs_text + 1] = native_ssh.quote(k .. "=" .. env[k]) end
  argv[#argv + 1] = "-o"
  argv[#argv + 1] = "SetEnv=" .. table.concat(pairs_text, " ")
end

--- Runs a command; the same result as the native client's (ssh's own failures, exit 255 with
--- its message, are errors).
function Connection:exec(command, options)
  options = options or {}
  local extra = { "-o", "ControlMaster=no", options.pty and "-tt" or "-T" }
  env_options(options.env, extra)
  local argv = argv_of(M.ssh, self:options(extra), self.host.name, command)
  local stderr_seen = {}
  local on_stderr = options.on_stderr
  local run_options = { stdin = options.stdin or "", timeout = options.timeout, on_stdout = options.on_stdout,
    lines = options.lines }
  if on_stderr then
    run_options.on_stderr = function(chunk, partial)
      stderr_seen[#stderr_seen + 1] = chunk
      if #stderr_seen > 16 then table.remove(stderr_seen, 1) end
      return on_stderr(chunk, partial)
    end
  end
  local r, err = process.run(argv, run_options)
  if not r then return nil, err end
  if r.exitStatus == 255 then
    local text = on_stderr and table.concat(stderr_seen, "\n") or r.stderr
    if text:find("^mux_client") or text:find("Control socket connect") or text:find("closed by remote host", 1, true)
      or text:find("^ssh: ") then
      return nil, failure(self.host, text, "the command on")
    end
  end
  return r
end

-- Runs a shell command on the host; nil and an error unless it succeeds.
function Connection:must(command, stdin)
  local r, err = self:exec(command, { stdin = stdin })
  if not r then return nil, err end
  if r.exitStatus ~= 0 then
    local message = ("`%s` on %s failed: %s"):format(command, self.host.name, r.stderr)
    return nil, native.error("remote", message, { host = self.host.name })
  end
  return r
end

local function temporary(path)
  return path .. ".essh-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e6)) .. ".tmp"
end

--- Copies a local file to the host with scp (over the master), keeping the source's mode
--- (or `options.mode`), written under a temporary name and renamed unless `atomic = false`.
function Connection:upload(src, dst, options)
  options = options or {}
  local allowed, denied = check("read", src, "session:upload")
  if not allowed then return nil, denied end
  local stat, serr = fs.stat(src)
  if not stat then return nil, serr end
  local target = options.atomic == false and dst or temporary(dst)
  local r, err = process.run(argv_of(M.scp, self:options { "-q" }, src, self.host.name .. ":" .. target))
  if not r then return nil, err end
  if r.exitStatus ~= 0 then return nil, failure(self.host, r.stderr, "the upload to") end
  local mode = ("%o"):format(options.mode or (stat.mode % 4096))
  local finish = ("chmod %s %s"):format(mode, shell.quote(target))
  if target ~= dst then finish = finish .. (" && mv -f %s %s"):format(shell.quote(target), shell.quote(dst)) end
  local ok, ferr = self:must(finish)
  if not ok then
    self:exec("rm -f " .. shell.quote(target))
    return nil, ferr
  end
  return stat.size
end

--- Copies a file of the host here with scp (over the master).
function Connection:download(src, dst, options)
  local allowed, denied = check("write", dst, "session:download")
  if not allowed then return nil, denied end
  local r, err = process.run(argv_of(M.scp, self:options { "-q" }, self.host.name .. ":" .. src, dst))
  if not r then return nil, err end
  if r.exitStatus ~= 0 then return nil, failure(self.host, r.stderr, "the download from") end
  if options and options.mode then
    local ok, cerr = fs.chmod(dst, options.mode)
    if not ok then return nil, cerr end
  end
  return fs.stat(dst).size
end

--- Writes `data` to `path` on the host (atomically, with `mode`).
function Connection:write(path, data, mode)
  local tmp = temporary(path)
  local command = ("umask 077 && cat > %s && chmod %o %s && mv -f %s %s"):format(shell.quote(tmp), mode or 420,
    shell.quote(tmp), shell.quote(tmp), shell.quote(path))
  local ok, err = self:must(command, data)
  if not ok then return nil, err end
  return true
end

--- A shell (or `command`) joined to this terminal, through the master.
function Connection:interactive(command, options)
  local extra = { "-o", "ControlMaster=no" }
  if options and options.tty == false then extra[#extra + 1] = "-T" end
  env_options(options and options.env, extra)
  local allowed, denied = check("run", M.ssh, "session:interactive")
  if not allowed then return nil, denied end
  local words = {}
  for _, a in ipairs(argv_of(M.ssh, self:options(extra), self.host.name, command)) do words[#words + 1] = shell.quote(a) end
  local status = require("essh.shell").exit_status(os.execute(table.concat(words, " ")))
  return { exitStatus = status, exit_status = status, ok = status == 0 }
end

--- Forwards local_port (it must be given) to host:port through the master.
function Connection:forward(local_port, host, port)
  if not local_port or local_port == 0 then
    return nil, native.error("invalid", "the openssh backend forwards a given local port (not 0)")
  end
  local spec = ("127.0.0.1:%d:%s:%d"):format(local_port, host, port)
  local r, err = process.run(argv_of(M.ssh, self:options { "-O", "forward", "-L", spec }, self.host.name))
  if not r then return nil, err end
  if r.exitStatus ~= 0 then return nil, failure(self.host, r.stderr, "the forward through") end
  local conn = self
  return {
    port = local_port,
    close = function()
      process.run(argv_of(M.ssh, conn:options { "-O", "cancel", "-L", spec }, conn.host.name))
    end,
  }
end

--- Stops the master and removes the generated files.
function Connection:close()
  if not self.dir then return end
  process.run(argv_of(M.ssh, self:options { "-O", "exit" }, self.host.name))
  fs.remove(self.dir, { recursive = true })
  self.dir = nil
end

Connection.__tostring = function(self) return "OpenSSH connection to " .. self.host.name end

return M
