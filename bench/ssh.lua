-- SSH benchmarks: essh against asyncssh, Fabric, parallel-ssh and OpenSSH, side by side in one
-- run, on one throwaway sshd listening on 127.0.0.1-127.0.0.101.   Run: make bench-ssh
-- Prints a table of medians (3 runs each) and the ratios the issue sets as targets.
local bench = require "bench.fleet"
local sh = bench.sh
local python = bench.python_with({ "asyncssh", "fabric", "parallel-ssh" })
local RUNS = bench.runs

bench.start().with(function(fleet)
  local server, port, user, key, kh = fleet.server, fleet.port, fleet.user, fleet.key, fleet.known_hosts
  local host_list, measure = fleet.host_list, fleet.measure
  local lua = "lua5.4"

  local essh = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua54/?.so;;' " .. lua .. " bench/ssh_client.lua"
  local openssh = table.concat({
    "ssh -q -o BatchMode=yes -o UserKnownHostsFile=" .. kh, "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes",
    "-i " .. key, "-p " .. port, "-l " .. user,
  }, " ")
  local creds = ("%d %s %s %s"):format(port, user, key, kh)          -- port user key known_hosts
  local local_creds = "127.0.0.1 " .. creds                            -- host port user key known_hosts
  local rows = {}
  local function row(group, name, command)
    local seconds, cpu = measure(command)
    rows[#rows + 1] = { group = group, name = name, seconds = seconds, cpu = cpu }
    io.stderr:write(("%-12s %-44s %8.3f s   sshd cpu %6.2f s\n"):format(group, name, seconds, cpu or 0))
  end
  local function peer(script, args) return ("%s bench/peers/%s.py %s"):format(python, script, args) end
  local function xargs(extra)
    return ("printf '%%s\\n' %s | xargs -P 100 -I{} %s %s {} true"):format(host_list, openssh, extra)
  end

  -- 1. Fan-out of `true` to 100 hosts.
  row("fanout", "essh (lua5.4)", ("%s fanout %s 100 true %s"):format(essh, creds, host_list))
  row("fanout", "asyncssh", peer("asyncssh_fanout", creds .. " true " .. host_list))
  row("fanout", "Fabric ThreadingGroup", peer("fabric_fanout", creds .. " true " .. host_list))
  row("fanout", "parallel-ssh", peer("pssh_fanout", creds .. " true " .. host_list))
  row("fanout", "OpenSSH xargs -P 100 (curve25519)", xargs("-o KexAlgorithms=curve25519-sha256"))
  row("fanout", "OpenSSH xargs -P 100 (default kex)", xargs(""))

  -- 2. 100 sequential commands on one connection.
  row("sequential", "essh (lua5.4)", ("%s sequential %s 100"):format(essh, local_creds))
  row("sequential", "asyncssh", peer("asyncssh_sequential", local_creds .. " 100"))
  local control = "-o ControlPath=" .. server.dir .. "/cm.sock"
  sh(("%s -o ControlMaster=yes %s -fN 127.0.0.1"):format(openssh, control))
  row("sequential", "OpenSSH ControlMaster",
    ("for i in $(seq 100); do %s %s 127.0.0.1 true; done"):format(openssh, control))
  sh(("%s %s -O exit 127.0.0.1"):format(openssh, control))

  -- 3. 256 MiB upload and download.
  local area = server.dir .. "/transfer"
  sh(("mkdir -p %s && chmod 1777 %s && head -c 268435456 /dev/urandom > %s/src.bin"):format(area, area, area))
  row("upload", "essh SFTP", ("%s upload %s %s/src.bin %s/up.bin"):format(essh, local_creds, area, area))
  row("upload", "OpenSSH scp", ("scp -q -o UserKnownHostsFile=%s -i %s -P %d %s/src.bin %s@127.0.0.1:%s/scp.bin")
    :format(kh, key, port, area, user, area))
  row("download", "essh SFTP", ("%s download %s %s/src.bin %s/down.bin"):format(essh, local_creds, area, area))
  row("download", "OpenSSH ssh cat", ("%s 127.0.0.1 cat %s/src.bin > %s/cat.bin"):format(openssh, area, area))

  -- 4. 500 hosts, at most 100 connections at once: peak RSS.
  local five = {}
  for _ = 1, 5 do five[#five + 1] = host_list end
  local rss = sh(("/usr/bin/time -f 'rss=%%M' sh -c '%s fanout %s 100 true %s'"):format(
    essh:gsub("'", "'\\''"), creds, table.concat(five, " ")))
  local peak_kib = tonumber(rss:match("rss=(%d+)"))

  local function best(group, exclude)
    local b
    for _, r in ipairs(rows) do
      if r.group == group and r.name ~= exclude and (not b or r.seconds < b.seconds) then b = r end
    end
    return b
  end
  local function find(group, name)
    for _, r in ipairs(rows) do if r.group == group and r.name == name then return r end end
  end
  local fan = find("fanout", "essh (lua5.4)")
  local fastest = best("fanout", "essh (lua5.4)")
  local seq = find("sequential", "essh (lua5.4)")
  print()
  print("| benchmark | essh | peer | ratio (essh / peer) | target |")
  print("|---|---|---|---|---|")
  local function line(fmt, ...) print(fmt:format(...)) end
  line("| fan-out `true` to 100 hosts | %.3f s | %s %.3f s | %.2fx | <= 0.6x |",
    fan.seconds, fastest.name, fastest.seconds, fan.seconds / fastest.seconds)
  line("| fan-out: sshd CPU during the run | %.2f s | floor (CPU / 2 cores) %.2f s | %.2fx | <= 1.25x |",
    fan.cpu, fan.cpu / 2, fan.seconds / (fan.cpu / 2))
  local aseq, cm = find("sequential", "asyncssh"), find("sequential", "OpenSSH ControlMaster")
  line("| 100 sequential commands, one connection | %.2f ms/cmd | asyncssh %.2f ms/cmd | %.2fx | <= 0.6x |",
    seq.seconds * 10, aseq.seconds * 10, seq.seconds / aseq.seconds)
  line("| (same) | | OpenSSH ControlMaster %.2f ms/cmd | %.2fx | |", cm.seconds * 10, seq.seconds / cm.seconds)
  local up, scp = find("upload", "essh SFTP"), find("upload", "OpenSSH scp")
  local down, cat = find("download", "essh SFTP"), find("download", "OpenSSH ssh cat")
  line("| upload 256 MiB | %.3f s (%.0f MiB/s) | scp %.3f s | %.2fx throughput | >= 1.0x |",
    up.seconds, 256 / up.seconds, scp.seconds, scp.seconds / up.seconds)
  line("| download 256 MiB | %.3f s (%.0f MiB/s) | ssh cat %.3f s | %.2fx throughput | >= 1.0x |",
    down.seconds, 256 / down.seconds, cat.seconds, cat.seconds / down.seconds)
  line("| 500 hosts, limit 100: peak RSS | %.1f MiB | | | < 150 MiB |", peak_kib / 1024)
  print()
  print("All rows (median of " .. RUNS .. " runs):")
  for _, r in ipairs(rows) do
    print(("  %-10s %-36s %8.3f s   sshd cpu %6.2f s"):format(r.group, r.name, r.seconds, r.cpu))
  end
end)
