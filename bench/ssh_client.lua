-- The essh side of the SSH benchmarks (bench/ssh.lua runs it; prints seconds).
--   fanout PORT USER KEY KNOWN_HOSTS LIMIT COMMAND HOST...   connect, run, close on every host
--   fanout-openssh (the same arguments)                      the same through ssh_backend = "openssh"
--   sequential HOST PORT USER KEY KNOWN_HOSTS N              N commands on one connection
--   upload|download HOST PORT USER KEY KNOWN_HOSTS FROM TO    one SFTP transfer
local essh = require "essh"
local ssh, runtime = essh.ssh, essh.runtime

local mode = arg[1]
local function options(host, port, user, key, known_hosts)
  return {
    host = host, port = tonumber(port), user = user, identity_file = key, known_hosts_file = known_hosts,
    ssh_config = false, agent = false,
  }
end

-- Runs the jobs, at most `limit` at once; prints the seconds they took; raises for a failed one.
local function fan_out(jobs, limit)
  local t0 = runtime.monotonic()
  local results = runtime.parallel(jobs, { limit = limit })
  local elapsed = runtime.monotonic() - t0
  for i, r in ipairs(results) do
    if r[1] ~= 0 then error(("host %d: %s"):format(i, tostring(r[2]))) end
  end
  print(("%.4f"):format(elapsed))
end

if mode == "fanout" then
  local port, user, key, known_hosts, limit, command = arg[2], arg[3], arg[4], arg[5], tonumber(arg[6]), arg[7]
  local jobs = {}
  for i = 8, #arg do
    local host = arg[i]
    jobs[#jobs + 1] = function()
      local session = assert(ssh.connect(options(host, port, user, key, known_hosts)))
      local r = assert(session:exec(command))
      session:close()
      return r.exitStatus
    end
  end
  fan_out(jobs, limit)
elseif mode == "fanout-openssh" then
  -- The same through the system's OpenSSH (ssh_backend = "openssh"): a ControlMaster a host.
  local port, user, key, known_hosts, limit, command = arg[2], arg[3], arg[4], arg[5], tonumber(arg[6]), arg[7]
  require("essh.connection.ssh").ssh_config = false
  local dsl = require("essh.config").new()
  local connection = require "essh.connection"
  local jobs = {}
  for i = 8, #arg do
    local host = dsl.host("h" .. i, { HostName = arg[i], Port = tonumber(port), User = user, IdentityFile = key,
      UserKnownHostsFile = known_hosts, IdentityAgent = "none", ssh_backend = "openssh" })
    jobs[#jobs + 1] = function()
      local conn = assert(connection.open(host))
      local r = assert(conn:exec(command))
      conn:close()
      return r.exitStatus
    end
  end
  fan_out(jobs, limit)
elseif mode == "sequential" then
  local session = assert(ssh.connect(options(arg[2], arg[3], arg[4], arg[5], arg[6])))
  local n = tonumber(arg[7])
  local t0 = runtime.monotonic()
  for _ = 1, n do assert(session:exec("true").exitStatus == 0) end
  print(("%.4f"):format(runtime.monotonic() - t0))
  session:close()
elseif mode == "upload" or mode == "download" then
  local session = assert(ssh.connect(options(arg[2], arg[3], arg[4], arg[5], arg[6])))
  local t0 = runtime.monotonic()
  assert(session[mode](session, arg[7], arg[8]))
  print(("%.4f"):format(runtime.monotonic() - t0))
  session:close()
else
  error("usage: see the head of bench/ssh_client.lua")
end
