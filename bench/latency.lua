-- Connection latency across a distant network: every byte 25 ms late each way (a 50 ms round
-- trip) through bench/delay_proxy.py, as this machine has no netem. Connect + `true` + close on
-- 1 host and on 50 hosts at once: essh (native, and ssh_backend = "openssh") against asyncssh
-- and OpenSSH (curve25519), in one run.   Run: make bench-ssh
local bench = require "bench.fleet"
local shell = require "support.shell"
local sh = bench.sh
local python = bench.python_with({ "asyncssh" })
local RTT = 0.050

bench.start().with(function(fleet)
  local port
  for _ = 1, 50 do
    port = math.random(20000, 60000)
    if not shell.sh("ss -Htln 'sport = :" .. port .. "' | grep -q LISTEN") then break end
  end
  local hosts = {}
  for i = 2, 51 do hosts[#hosts + 1] = "127.0.0." .. i end
  local log = fleet.server.dir .. "/delay.log"
  local proxy = shell.watchdog(("exec python3 bench/delay_proxy.py %d 127.0.0.1 %d 25 %s %s"):format(
    port, fleet.port, log, table.concat(hosts, " ")))
  for _ = 1, 200 do
    local f = io.open(log)
    if f and f:read("*a"):find("ready") then f:close() break end
    if f then f:close() end
    sh("sleep 0.02")
  end
  local kh = fleet.server.dir .. "/known_hosts_delayed"
  local f = assert(io.open(kh, "w"))
  for _, h in ipairs(hosts) do f:write(("[%s]:%d %s\n"):format(h, port, fleet.server.host_key)) end
  f:close()

  local essh = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua54/?.so;;' lua5.4 bench/ssh_client.lua"
  local creds = ("%d %s %s %s"):format(port, fleet.user, fleet.key, kh)
  local openssh = ("ssh -q -o BatchMode=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    .. " -o KexAlgorithms=curve25519-sha256 -F none -i %s -p %d -l %s"):format(kh, fleet.key, port, fleet.user)

  -- The median turns per connection the proxy counted since `from` (a line count of its log).
  local function lines_of_log()
    local out = {}
    for line in io.open(log):read("*a"):gmatch("[^\n]+") do out[#out + 1] = line end
    return out
  end
  local function turns_since(from)
    local all, turns = lines_of_log(), {}
    for i = from + 1, #all do
      local n = all[i]:match("^turns (%d+)")
      if n then turns[#turns + 1] = tonumber(n) end
    end
    table.sort(turns)
    return turns[math.floor((#turns + 1) / 2)]
  end

  local rows = {}
  local function row(count, name, command)
    local from = #lines_of_log()
    local seconds, cpu = fleet.measure(command)
    local r = { count = count, name = name, seconds = seconds, cpu = cpu, turns = turns_since(from) }
    rows[#rows + 1] = r
    io.stderr:write(("%2d host(s) %-34s %7.3f s  %5.1f RTT  %s turns\n"):format(count, name, seconds,
      seconds / RTT, tostring(r.turns)))
  end
  for _, count in ipairs { 1, 50 } do
    local list = table.concat(hosts, " ", 1, count)
    row(count, "essh (native)", ("%s fanout %s 100 true %s"):format(essh, creds, list))
    row(count, "essh (ssh_backend = \"openssh\")", ("%s fanout-openssh %s 100 true %s"):format(essh, creds, list))
    row(count, "asyncssh", ("%s bench/peers/asyncssh_fanout.py %s true %s"):format(python, creds, list))
    row(count, "OpenSSH (curve25519)",
      ("printf '%%s\\n' %s | xargs -P 50 -I{} %s {} true"):format(list, openssh))
  end
  -- Round trips per phase, with and without each pipelining step (essh's patch of russh).
  local phases = {}
  for _, step in ipairs { "off", "auth", "signature", "on" } do
    local out = sh(("BENCH_PIPELINING=%s %s phases %s %s 5"):format(step, essh, hosts[1], creds))
    local connect, exec, close = out:match("([%d.]+) ([%d.]+) ([%d.]+)%s*$")
    phases[#phases + 1] = { step = step, connect = tonumber(connect), exec = tonumber(exec), close = tonumber(close) }
    io.stderr:write(("pipelining %-9s connect %6.1f ms  exec %6.1f ms  close %5.1f ms\n"):format(step, connect, exec, close))
  end
  proxy:close()

  print()
  print("| hosts | client | seconds | round trips (time / 50 ms) | turns the proxy saw | sshd CPU |")
  print("|---|---|---|---|---|---|")
  for _, r in ipairs(rows) do
    print(("| %d | %s | %.3f | %.1f | %s | %.2f s |"):format(r.count, r.name, r.seconds, r.seconds / RTT,
      tostring(r.turns), r.cpu or 0))
  end
  print()
  print("| pipelining | connect (TCP, kex, auth) | exec `true` (channel, exec) | close | total round trips |")
  print("|---|---|---|---|---|")
  local STEPS = { off = "none", auth = "auth request with the service request", signature = "keys signed at once",
    on = "both (the default)" }
  for _, p in ipairs(phases) do
    print(("| %s | %.0f ms = %.1f RTT | %.0f ms = %.1f RTT | %.0f ms | %.1f |"):format(STEPS[p.step], p.connect,
      p.connect / 1000 / RTT, p.exec, p.exec / 1000 / RTT, p.close, (p.connect + p.exec + p.close) / 1000 / RTT))
  end
  local function find(count, name)
    for _, r in ipairs(rows) do if r.count == count and r.name == name then return r end end
  end
  local best
  for _, r in ipairs(rows) do
    if r.count == 50 and not r.name:find("^essh") and (not best or r.seconds < best.seconds) then best = r end
  end
  local one, fifty = find(1, "essh (native)"), find(50, "essh (native)")
  print()
  print(("Targets: 1 host %.1f round trips (target <= 6); 50 hosts %.3f s = %.2fx %s (target <= 0.8x)"):format(
    one.seconds / RTT, fifty.seconds, fifty.seconds / best.seconds, best.name))
end)
