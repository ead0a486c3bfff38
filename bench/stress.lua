-- Stress run (make stress; root: a throwaway sshd and its test user). Not part of CI's run.
-- 1. 2 GiB of output through `essh TASK`: 1 GiB in one line without a newline, 1 GiB in
--    short lines; wall time and peak RSS of the essh process.
-- 2. 500 hosts with a limit of 100: most answer, some are closed (refused), silent (accept and
--    never speak) or killed in the middle of their command.
-- 3. SIGINT at random moments of a run on 50 hosts and of an interactive session in a PTY:
--    exit codes, the terminal's modes, and remote commands left behind.
-- 4. 10,000 host definitions loaded and listed.
-- Prints a figure per line; BENCHMARKS.md keeps them.
local bench = require "bench.fleet"
local shell = require "support.shell"
local sh = bench.sh

local ESSH = "env LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua54/?.so;;' lua5.4 bin/essh"
local seed = tonumber(os.getenv("STRESS_SEED") or "") or os.time()
math.randomseed(seed)

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- Runs `command` under /usr/bin/time: its output, exit status, seconds and peak RSS (MiB).
local function measured(command)
  local times = os.tmpname()
  local out, status = shell.run(("/usr/bin/time -o %s -f '%%e %%M' %s"):format(times, command))
  local f = assert(io.open(times))
  local seconds, kb = f:read("*a"):match("([%d.]+) (%d+)%s*$")
  f:close()
  os.remove(times)
  return out, status, tonumber(seconds), tonumber(kb) / 1024
end

local function report(name, seconds, mib, extra)
  print(("%-52s %8.2f s  %7.1f MiB peak RSS  %s"):format(name, seconds, mib, extra or ""))
end

local function host_line(name, address, port, fleet, extra)
  return ('host %q { HostName = %q, Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q, '
    .. 'ConnectTimeout = 3%s }\n'):format(name, address, port, fleet.user, fleet.key, fleet.known_hosts, extra or "")
end

bench.start().with(function(fleet)
  local dir = sh("mktemp -d /tmp/essh-stress.XXXXXX"):gsub("%s+$", "")
  io.stdout:setvbuf("line")
  print(("stress run, seed %d, %s"):format(seed, os.date("!%Y-%m-%d")))

  -- 1. Output.
  local config = dir .. "/output.lua"
  write(config, host_line("one", "127.0.0.1", fleet.port, fleet)
    .. 'task "long" { backend = "remote", targets = "one", script = "head -c 1073741824 /dev/zero | tr \'\\\\0\' x" }\n'
    .. 'task "short" { backend = "remote", targets = "one", script = "yes '
    .. '0123456789abcdef0123456789abcdef0123456789abcdef012345678901 | head -c 1073741824" }\n')
  for _, task in ipairs { "long", "short" } do
    local out, status, seconds, mib = measured(("%s --config %s %s > /dev/null"):format(ESSH, config, task))
    assert(status == 0, out)
    report("1 GiB of output, " .. (task == "long" and "one line without a newline" or "64-byte lines"), seconds, mib,
      ("%.0f MiB/s"):format(1024 / seconds))
  end

  -- 2. 500 hosts, limit 100: closed, silent and killed ones among them.
  -- A listener that accepts and never speaks: the silent hosts.
  write(dir .. "/silent.py", "import socket, sys\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen(200)\n"
    .. "open(sys.argv[1], 'w').write(str(s.getsockname()[1]))\nheld = []\nwhile True:\n    held.append(s.accept())\n")
  local listener = io.popen(("python3 %s/silent.py %s/silent.port"):format(dir, dir), "w")
  local silent_port
  for _ = 1, 100 do
    local f = io.open(dir .. "/silent.port")
    silent_port = f and tonumber(f:read("*a"))
    if f then f:close() end
    if silent_port then break end
    os.execute("sleep 0.05")
  end
  local lines = {}
  for i = 1, 500 do
    local name = "h" .. i
    if i % 100 == 7 then
      lines[#lines + 1] = host_line(name, "127.0.0.1", 1, fleet, ', tags = { "fleet" }')             -- closed
    elseif i % 100 == 8 then
      lines[#lines + 1] = host_line(name, "127.0.0.1", silent_port, fleet, ', tags = { "fleet" }')   -- silent
    else
      lines[#lines + 1] = host_line(name, fleet.hosts[(i % 100) + 1], fleet.port, fleet, ', tags = { "fleet" }')
    end
  end
  lines[#lines + 1] = 'task "work" { backend = "remote", targets = "fleet", parallel = 100, on_failure = "continue", script = '
    .. '"sleep 0.2; case $ESSH_HOST_NAME in h9|h109|h209|h309|h409) kill -9 $PPID;; esac; echo done" }\n'
  config = dir .. "/fleet.lua"
  write(config, table.concat(lines))
  local out, status, seconds, mib = measured(("%s --config %s work --json 2>/dev/null"):format(ESSH, config))
  local json = require("essh").json
  local run = assert(json.decode(out))
  local counts = {}
  for _, h in ipairs(run.hosts) do counts[h.status] = (counts[h.status] or 0) + 1 end
  report("500 hosts, 100 at once (5 closed, 5 silent, 5 killed)", seconds, mib,
    ("exit %d: %d ok, %d failed, %d unreachable"):format(status, counts.ok or 0, counts.failed or 0,
      counts.unreachable or 0))
  assert(counts.ok == 485 and counts.failed == 5 and counts.unreachable == 10, out)
  sh("pkill -f '" .. dir .. "/[s]ilent.py' || true")
  listener:close()

  -- 3. SIGINT at random moments.
  lines = {}
  for i = 1, 50 do lines[i] = host_line("s" .. i, fleet.hosts[i], fleet.port, fleet, ', tags = { "some" }') end
  lines[#lines + 1] = 'task "slow" { backend = "remote", targets = "some", parallel = 20, script = "sleep 2; echo done" }\n'
  config = dir .. "/slow.lua"
  write(config, table.concat(lines))
  local codes, left_behind = {}, 0
  for _ = 1, 10 do
    local delay = 0.1 + math.random() * 3
    local text = sh(("(%s --config %s slow >/dev/null 2>&1 & pid=$!; sleep %.2f; kill -INT $pid; wait $pid; "
      .. "echo code=$?) 2>&1"):format(ESSH, config, delay))
    codes[#codes + 1] = text:match("code=(%d+)")
    os.execute("sleep 1")
    left_behind = left_behind + tonumber(sh("pgrep -u " .. fleet.user .. " -fx 'sleep 2' | wc -l"):match("%d+"))
  end
  print(("SIGINT at 10 random moments of a 50-host run: exit codes %s; remote commands left: %d")
    :format(table.concat(codes, " "), left_behind))
  write(dir .. "/one.lua", host_line("web", "127.0.0.1", fleet.port, fleet))
  local restored = 0
  for _ = 1, 5 do
    local delay = 0.3 + math.random() * 1.5
    write(dir .. "/session.sh", ("stty -g\n%s --config %s web -- 'echo started; sleep %.2f; sleep 20'\nstty -g\n")
      :format(ESSH, dir .. "/one.lua", delay))
    local text = shell.run(("python3 spec/support/terminal.py 24 80 'expect:started' 'kill:INT:^[^ ]*lua[^ ]* bin/essh --config' "
      .. "-- sh %s/session.sh"):format(dir))
    local modes = shell.stty_modes(text)
    if #modes == 2 and modes[1] == modes[2] then restored = restored + 1 end
  end
  print(("SIGINT during 5 interactive sessions in a PTY: terminal restored %d of 5"):format(restored))

  -- 4. 10,000 hosts.
  lines = {}
  for i = 1, 10000 do
    lines[i] = ('host "n%d" { HostName = "10.%d.%d.1", tags = { "rack%d", "all" } }\n'):format(i, i % 200, i % 250,
      i % 40)
  end
  config = dir .. "/many.lua"
  write(config, table.concat(lines))
  out, status, seconds, mib = measured(("%s --config %s --hosts > /dev/null"):format(ESSH, config))
  assert(status == 0, out)
  report("10,000 hosts defined and listed (essh --hosts)", seconds, mib)
  sh("rm -rf " .. dir)
end)
