--- Shell commands for the specs' support code and the benchmarks, with the exit status on
--- every interpreter (Lua 5.1's popen gives none, so the shell prints it).
local M = {}

--- Runs `command`; its output (stdout and stderr) and exit status.
function M.run(command)
  local p = assert(io.popen("(" .. command .. ") 2>&1; echo \"rc=$?\""))
  local text = p:read("*a")
  p:close()
  local out, code = text:match("^(.-)rc=(%d+)%s*$")
  return out, tonumber(code)
end

--- Runs `command`; its output, or nil and the output when it fails.
function M.sh(command)
  local out, code = M.run(command)
  if code == 0 then return out end
  return nil, out
end

--- Like sh, but raises when the command fails, naming it.
function M.must(command)
  local out, err = M.sh(command)
  if not out then error("`" .. command .. "` failed: " .. tostring(err), 2) end
  return out
end

--- A TCP port on loopback that nothing uses now: one the kernel hands out for an ephemeral
--- bind, so it is free of listeners and of connected sockets alike.
function M.free_port()
  local python = [[import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])]]
  return tonumber((M.must("python3 -c " .. M.quote(python)):gsub("%s+$", "")))
end

--- The terminal modes (`stty -g` lines) that `out` holds, in order.
function M.stty_modes(out)
  local modes = {}
  for mode in out:gmatch("([%x:]+:[%x:]+)\r?\n") do modes[#modes + 1] = mode end
  return modes
end

--- Runs the shell command `command` (a server in the foreground) under a watchdog that kills
--- it and every process it started when the returned handle is closed, or when this Lua
--- process ends in any way (the handle is a pipe the watchdog reads until it closes), so that
--- no server outlives the run that started it.
function M.watchdog(command)
  return assert(io.popen(("sh -c %s >/dev/null 2>&1"):format(M.quote(
    command .. " & pid=$!; cat >/dev/null; "
    -- Only while the server is still this shell's child: once it has exited and been reaped,
    -- its number may belong to another process by now (this machine's pid_max is 32768).
    .. "if [ \"$(ps -o ppid= -p $pid 2>/dev/null | tr -d ' ')\" = \"$$\" ]; then "
    .. "pkill -KILL -P $pid; kill -KILL $pid 2>/dev/null; fi; wait")), "w"))
end

--- A listener that accepts connections and never answers: its port, and a function that
--- stops it. It says its port once it listens (a fixed pause is not enough on a busy machine).
function M.silent_listener()
  local port_file = os.tmpname()
  os.remove(port_file)
  local listener = ("import socket, time\ns = socket.socket()\n"
    .. "s.bind(('127.0.0.1', 0))\ns.listen(5)\nopen('%s', 'w').write(str(s.getsockname()[1]))\ntime.sleep(30)")
    :format(port_file)
  local handle = M.watchdog("exec python3 -c " .. M.quote(listener))
  local port
  for _ = 1, 250 do
    local f = io.open(port_file)
    port = f and tonumber(f:read("*a"))
    if f then f:close() end
    if port then break end
    M.run("sleep 0.02")
  end
  local function stop()
    handle:close()
    os.remove(port_file)
  end
  if not port then
    stop()
    error("support.shell: the silent listener did not start")
  end
  return port, stop
end

--- `s` quoted for the shell.
function M.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

return M
