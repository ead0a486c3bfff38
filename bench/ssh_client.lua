-- The essh side of the SSH benchmarks (bench/ssh.lua runs it; prints seconds).
--   fanout PORT USER KEY KNOWN_HOSTS LIMIT COMMAND HOST...   connect, run, close on every host
--   fanout-openssh (the same arguments)                      the same through ssh_backend = "openssh"
--   sequential HOST PORT USER KEY KNOWN_HOSTS N              N commands on one connection
--   phases HOST PORT USER KEY KNOWN_HOSTS N                  ms of connect, exec, close (medians)
--   upload|download HOST PORT USER KEY KNOWN_HOSTS FROM TO    one SFTP transfer
local essh = require "essh"
local ssh, runtime = essh.ssh, essh.runtime

local mode = arg[1]
-- BENCH_PIPELINING: on (default), off, auth or signature (only that step).
local PIPELINING = ({ on = true, off = false, auth = { auth = true, signature = false },
  signature = { auth = false, signature = true } })[os.getenv("BENCH_PIPELINING") or "on"]

local function options(host, port, user, key, known_hosts)
  return {
    host = host, port = tonumber(port), user = user, identity_file = key, known_hosts_file = known_hosts,
    ssh_config = false, agent = false, pipelining = PIPELINING,
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
elseif mode == "phases" then
  -- Milliseconds of connect (TCP, key exchange, authentication), exec of `true` (channel open,
  -- exec, exit) and close, each the median of N connections one after another.
  local host, port, user, key, known_hosts, n = arg[2], arg[3], arg[4], arg[5], arg[6], tonumber(arg[7])
  local phases = { connect = {}, exec = {}, close = {} }
  for i = 1, n do
    local t0 = runtime.monotonic()
    local session = assert(ssh.connect(options(host, port, user, key, known_hosts)))
    local t1 = runtime.monotonic()
    assert(session:exec("true").exitStatus == 0)
    local t2 = runtime.monotonic()
    session:close()
    local t3 = runtime.monotonic()
    phases.connect[i], phases.exec[i], phases.close[i] = t1 - t0, t2 - t1, t3 - t2
  end
  local function median(list)
    table.sort(list)
    return list[math.floor((#list + 1) / 2)] * 1000
  end
  print(("%.1f %.1f %.1f"):format(median(phases.connect), median(phases.exec), median(phases.close)))
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
