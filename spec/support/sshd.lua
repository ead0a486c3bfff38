--- Throwaway OpenSSH servers for the specs: each `start()` runs its own sshd on a free
--- loopback port, with generated host and user keys, a user CA, a test user with a password
--- (when the suite runs as root), and internal-sftp. Nothing depends on the machine's own sshd.
local M = {}

local shell = require "support.shell"
local sh, must = shell.sh, shell.must

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  if mode then must("chmod " .. mode .. " '" .. path .. "'") end
end

local function read(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

M.is_root = (sh("id -u") or ""):match("^0") ~= nil
M.USER = "essh-test"
-- One random password for the test user, kept in a root-only file so that suites running at
-- the same time (several interpreters, say) agree on it instead of changing it under each other.
local PASSWORD_FILE = "/var/tmp/essh-test.password"
local function password()
  local existing = read(PASSWORD_FILE)
  if existing and #existing > 8 then return (existing:gsub("%s+$", "")) end
  local made = (sh("od -An -N12 -tx1 /dev/urandom") or tostring(os.time())):gsub("%s", "")
  write(PASSWORD_FILE, "Essh-" .. made .. "\n", "600")
  return (read(PASSWORD_FILE):gsub("%s+$", ""))
end
M.PASSWORD = M.is_root and password() or nil

--- Makes sure the test user exists and has M.PASSWORD (root only).
local function ensure_user()
  if not M.is_root then return (os.getenv("USER") or must("id -un"):gsub("%s+$", "")) end
  if not sh("id -u " .. M.USER) then must("useradd -m -s /bin/sh " .. M.USER) end
  must("echo '" .. M.USER .. ":" .. M.PASSWORD .. "' | chpasswd")
  return M.USER
end

local keys_dir
--- User keys, made once per run: ed25519, ecdsa, rsa, an encrypted ed25519 and a certificate.
function M.keys()
  if keys_dir then return keys_dir end
  keys_dir = must("mktemp -d /tmp/essh-keys.XXXXXX"):gsub("%s+$", "")
  must("chmod 755 " .. keys_dir)
  local d = keys_dir
  must("ssh-keygen -q -t ed25519 -N '' -C essh-ed25519 -f " .. d .. "/id_ed25519")
  must("ssh-keygen -q -t ecdsa -b 256 -N '' -C essh-ecdsa -f " .. d .. "/id_ecdsa")
  must("ssh-keygen -q -t rsa -b 2048 -N '' -C essh-rsa -f " .. d .. "/id_rsa")
  must("ssh-keygen -q -t ed25519 -N 'sesame' -C essh-encrypted -f " .. d .. "/id_encrypted")
  must("ssh-keygen -q -t ed25519 -N '' -C essh-ca -f " .. d .. "/user_ca")
  must("ssh-keygen -q -t ed25519 -N '' -C essh-certified -f " .. d .. "/id_certified")
  must("ssh-keygen -q -t ed25519 -N '' -C essh-unlisted -f " .. d .. "/id_unlisted")
  return d
end

--- Starts an sshd. Options: kbdint (offer keyboard-interactive), listen (addresses), pam = false,
--- extra (more sshd_config lines), netns (a network namespace to run in), clients (networks
--- besides loopback that may log in).
--- Returns a server: port, address (the first listen address), user, password, known_hosts (a
--- file listing its host key), host_key (the public key line), dir, keys, pid, options(extra),
--- stop() and kill_all().
function M.start(options)
  options = options or {}
  local keys = M.keys()
  local user = ensure_user()
  local dir = must("mktemp -d /tmp/essh-sshd.XXXXXX"):gsub("%s+$", "")
  must("chmod 755 " .. dir)
  must("mkdir -p /run/sshd")
  must("ssh-keygen -q -t ed25519 -N '' -f " .. dir .. "/host_ed25519")
  local authorized = {}
  for _, name in ipairs({ "id_ed25519", "id_ecdsa", "id_rsa", "id_encrypted" }) do
    authorized[#authorized + 1] = read(keys .. "/" .. name .. ".pub")
  end
  -- A fixed ECDSA key whose private scalar has a leading zero byte (see src/ssh/keyfix.rs).
  authorized[#authorized + 1] = read("spec/data/keys/id_ecdsa_short.pub")
  write(dir .. "/authorized_keys", table.concat(authorized), "644")
  must(("ssh-keygen -q -s %s/user_ca -I essh-test -n %s -V -5m:+1h %s/id_certified.pub")
    :format(keys, user, keys))
  local server = { dir = dir, user = user, password = M.is_root and M.PASSWORD or nil, keys = keys }
  for _ = 1, 5 do
    local port = shell.free_port()
    write(dir .. "/sshd_config", table.concat({
      "Port " .. port,
      "ListenAddress " .. table.concat(options.listen or { "127.0.0.1" }, "\nListenAddress "),
      "HostKey " .. dir .. "/host_ed25519",
      "PidFile " .. dir .. "/sshd.pid",
      "AuthorizedKeysFile " .. dir .. "/authorized_keys",
      "TrustedUserCAKeys " .. keys .. "/user_ca.pub",
      "StrictModes no",
      "UsePAM " .. ((M.is_root and options.pam ~= false) and "yes" or "no"),
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication " .. (options.kbdint and "yes" or "no"),
      "PermitRootLogin yes",
      "AcceptEnv ESSH_*",
      "Subsystem sftp internal-sftp",
      "MaxSessions 1000",
      "MaxStartups 1000:30:1000",
      "MaxAuthTries 20",
      "LogLevel ERROR",
      -- options.listen = {"0.0.0.0"} (the benchmark's 100 loopback addresses): loopback only.
      table.concat(options.extra or {}, "\n"),
      "Match Address *,!127.0.0.0/8" .. (options.clients and ",!" .. table.concat(options.clients, ",!") or ""),
      "  DenyUsers *",
      "",
    }, "\n"))
    local inside = options.netns and ("ip netns exec " .. options.netns .. " ") or ""
    local watchdog = shell.watchdog(("%s/usr/sbin/sshd -D -f %s/sshd_config -E %s/sshd.log"):format(inside, dir, dir))
    for _ = 1, 100 do
      if tonumber(read(dir .. "/sshd.pid") or "") or not sh("pgrep -f '" .. dir .. "/sshd_config' >/dev/null") then
        break
      end
      sh("sleep 0.02")
    end
    if tonumber(read(dir .. "/sshd.pid") or "") then
      server.port, server.watchdog = port, watchdog
      break
    end
    watchdog:close()
    server.last_error = read(dir .. "/sshd.log")
  end
  if not server.port then
    error("support/sshd: sshd did not start: " .. tostring(server.last_error) .. (read(dir .. "/sshd.log") or ""))
  end
  server.host_key = read(dir .. "/host_ed25519.pub"):match("^(%S+ %S+)")
  server.known_hosts = dir .. "/known_hosts"
  server.address = options.listen and options.listen[1] ~= "0.0.0.0" and options.listen[1] or "127.0.0.1"
  write(server.known_hosts, ("[%s]:%d %s\n"):format(server.address, server.port, server.host_key))
  server.pid = tonumber(read(dir .. "/sshd.pid"))

  --- Options for ssh.connect that reach this server with the ed25519 key, plus `extra`.
  function server.options(extra)
    local o = {
      host = server.address, port = server.port, user = server.user,
      identity_file = keys .. "/id_ed25519", known_hosts_file = server.known_hosts,
      ssh_config = false, agent = false, connect_timeout = 10,
    }
    for k, v in pairs(extra or {}) do
      if v == M.NONE then o[k] = nil else o[k] = v end
    end
    return o
  end

  --- Kills the server (its connections too) and removes its files.
  function server.stop()
    if server.watchdog then server.watchdog:close() end
    server.watchdog = nil
    sh("rm -rf " .. dir)
  end

  --- Kills the server and every session process it started (a crash, as clients see it).
  function server.kill_all()
    sh(("for m in $(pgrep -P %d); do pkill -KILL -P $m; kill -KILL $m; done; kill -KILL %d"):format(server.pid, server.pid))
  end
  return server
end

--- Marks an option to remove from server.options().
M.NONE = setmetatable({}, { __tostring = function() return "NONE" end })

return M
