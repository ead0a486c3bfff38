-- A fleet for the benchmarks: one throwaway sshd (no PAM) that answers on 127.0.0.1-127.0.0.101,
-- a known_hosts file for all of them, the peers' Python venv, and a timer of commands.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local sshd = require "support.sshd"
local shell = require "support.shell"
local runtime = require("essh").runtime

local M = { runs = tonumber(os.getenv("BENCH_RUNS") or "3"), out = "bench/out", sh = shell.must }
M.venv = M.out .. "/venv"
M.python = M.venv .. "/bin/python"

-- The venv with these PyPI packages (installed when missing).
function M.python_with(packages)
  os.execute("mkdir -p " .. M.out)
  if not io.open(M.python) then M.sh("python3 -m venv " .. M.venv) end
  local missing = {}
  for _, p in ipairs(packages) do
    if not shell.sh(M.venv .. "/bin/pip show -q " .. p) then missing[#missing + 1] = p end
  end
  if #missing > 0 then
    io.stderr:write("bench: installing ", table.concat(missing, " "), " into ", M.venv, "\n")
    M.sh(M.venv .. "/bin/pip install -q " .. table.concat(missing, " "))
  end
  return M.python
end

--- Starts the fleet: { server, hosts (100 addresses), host_list, port, user, key, known_hosts }.
function M.start()
  local hosts = {}
  for i = 2, 101 do hosts[#hosts + 1] = "127.0.0." .. i end
  -- sshd takes at most 16 ListenAddress lines: listen everywhere, and it refuses non-loopback peers.
  local server = sshd.start({ listen = { "0.0.0.0" }, pam = false })
  local fleet = { server = server, hosts = hosts, host_list = table.concat(hosts, " "), port = server.port,
    user = server.user, key = server.keys .. "/id_ed25519", known_hosts = server.dir .. "/known_hosts_all" }
  local f = assert(io.open(fleet.known_hosts, "w"))
  f:write(("[127.0.0.1]:%d %s\n"):format(server.port, server.host_key))
  for _, h in ipairs(hosts) do f:write(("[%s]:%d %s\n"):format(h, server.port, server.host_key)) end
  f:close()

  local function sshd_cpu()
    local stat = io.open("/proc/" .. server.pid .. "/stat"):read("*a")
    local fields = {}
    for field in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = field end
    -- utime, stime, cutime, cstime are fields 14-17 of stat; 12-15 after the name.
    return (tonumber(fields[12]) + tonumber(fields[13]) + tonumber(fields[14]) + tonumber(fields[15])) / 100
  end

  --- Runs `command` M.runs times; the median of the seconds it prints (or of its wall time when
  --- it prints no number last), and the median sshd CPU seconds per run.
  function fleet.measure(command)
    local times, cpus = {}, {}
    for i = 1, M.runs do
      local cpu0 = sshd_cpu()
      local t0 = runtime.monotonic()
      local text = M.sh(command)
      local wall = runtime.monotonic() - t0
      runtime.sleep(0.5) -- sshd reaps its children, and only then counts their CPU time
      cpus[i] = sshd_cpu() - cpu0
      times[i] = tonumber(text:match("([%d.]+)%s*$") or "") or wall
    end
    table.sort(times)
    table.sort(cpus)
    local mid = math.floor((M.runs + 1) / 2)
    return times[mid], cpus[mid]
  end

  --- Runs `body(fleet)`, then stops the server whatever happened.
  function fleet.with(body)
    local ok, failure = pcall(body, fleet)
    server.stop()
    if not ok then error(failure, 0) end
  end
  return fleet
end

return M
