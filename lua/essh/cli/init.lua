--- essh.cli: the `essh` command. `main(argv)` reads the flags, loads the config files and
--- hands the command to its file under essh.cli (as LuaRocks' `luarocks.cmd.*`): listings
--- (hosts, tasks, tags), print, scaffold (--init), complete, run (a task), exec and
--- interactive (a session on a host). Returns the exit code.
local native = require "essh_native"
local flags_of = require "essh.cli.flags"

local M = {}

M.FLAGS = flags_of.FLAGS

local function dispatch(argv, options)
  local registry = options.registry
  local program = options.program or "essh"
  -- Flags up to the first word; after a task, more flags and its arguments; after a host, its command.
  local flags, words, rest = flags_of.parse(argv, nil, 1, true)
  local out = io.stdout
  if flags.help then out:write(flags_of.help(program)) return 0 end
  if flags.version then out:write("essh ", native.version, " (", native.interpreter, ")\n") return 0 end
  if flags["bash-completion"] then return require("essh.cli.complete").script("bash", out) end
  if flags["zsh-completion"] then return require("essh.cli.complete").script("zsh", out) end
  if flags.init then return require("essh.cli.scaffold").command(out) end

  registry = registry or require("essh.cli.discovery").load(flags)
  if flags.openssh then require("essh.connection").backend = "openssh" end
  if flags.F then require("essh.connection.ssh").ssh_config = flags.F ~= "none" and flags.F or false end
  if flags.G then return require("essh.cli.resolve").command(registry, words, out) end

  if flags.complete then return require("essh.cli.complete").command(registry, flags.complete, out) end
  for _, listing in ipairs { "hosts", "tasks", "tags", "print" } do
    if flags[listing] then return require("essh.cli." .. listing).command(registry, flags, out) end
  end
  if flags.exec then
    local _, args = flags_of.parse(argv, flags, rest)
    for j = #args, 1, -1 do table.insert(args, 1, words[j]) end
    return require("essh.cli.exec").command(registry, flags, args)
  end
  if #words == 0 then
    io.stderr:write(flags_of.help(program))
    return 2
  end
  local name = words[1]
  local task = registry:get("task", name)
  if task then
    if task.disabled then flags_of.usage_error(("task %s is disabled"):format(name)) end
    local _, args = flags_of.parse(argv, flags, rest)
    return require("essh.cli.run").command(registry, task, args, flags)
  end
  local interactive = require "essh.cli.interactive"
  if interactive.accepts(registry, name) then
    local command = {}
    for j = rest, #argv do command[#command + 1] = argv[j] end
    if command[1] == "--" then table.remove(command, 1) end
    return interactive.command(registry, name, command, flags)
  end
  flags_of.usage_error(("no task or host named %s (essh --tasks, essh --hosts)"):format(name))
end

--- Runs the command line `argv` and returns the exit code. Options: registry (use it instead
--- of loading config files), program (the name in messages).
function M.main(argv, options)
  options = options or {}
  argv = argv or {}
  local debug_mode = false
  for _, a in ipairs(argv) do
    if a == "--" then break end
    if a == "--debug" then debug_mode = true end
  end
  -- Hosts' lines reach a pipe (tee, a log) as they come, in order with stderr.
  io.stdout:setvbuf("line")
  local program = options.program or (argv[0] and argv[0]:match("[^/]+$")) or "essh"
  options.program = program
  local ok, result = xpcall(function() return dispatch(argv, options) end, function(e)
    if type(e) == "table" and (e.usage or e.config) then return e end
    return { internal = e, trace = debug.traceback(tostring(e), 2) }
  end)
  if ok then return result end
  if result.usage then
    io.stderr:write(program, ": ", result.usage, "\n")
    return 2
  end
  if result.config then
    io.stderr:write(program, ": ", result.config, "\n")
    return 2
  end
  local e = result.internal
  if type(e) == "userdata" and e.kind == "interrupted" then
    io.stderr:write(program, ": interrupted\n")
    return 130
  end
  io.stderr:write(program, ": ", debug_mode and result.trace or tostring(e), "\n")
  return 2
end

return M
