--- essh.cli: the `essh` command. `main(argv)` reads the flags, loads the config files and
--- hands the command to its file under essh.cli (as LuaRocks' `luarocks.cmd.*`): listings
--- (hosts, tasks, tags), print, scaffold (--init), complete, run (a task), exec and
--- interactive (a session on a host). Returns the exit code.
local native = require "essh_native"
local flags_of = require "essh.cli.flags"

local M = {}

M.FLAGS = flags_of.FLAGS

-- The config's own commands, as (name, description) pairs, for --help; none without a config.
local function config_commands(registry)
  if not registry then return {} end
  local out = {}
  for _, c in ipairs(registry:list("command")) do out[#out + 1] = { c.name, c.description } end
  return out
end

-- Refuses the flags that only --exec reads.
local function exec_only(flags)
  for _, f in ipairs { "backend", "prefix-string", "pty", "script-file", "driver", "privileged", "user" } do
    if flags[f] then flags_of.usage_error(("--%s works with --exec"):format(f)) end
  end
  if #flags.target > 0 then flags_of.usage_error("--target works with --exec") end
end

local function dispatch(argv, options)
  local registry = options.registry
  local program = options.program or "essh"
  -- Flags up to the first word; after a task, more flags and its arguments; after a host, its command.
  local flags, words, rest = flags_of.parse(argv, nil, 1, true)
  local out = io.stdout
  if flags["working-dir"] then
    local ok, err = native.fs.chdir(flags["working-dir"])
    if not ok then flags_of.usage_error(("--working-dir: %s"):format(tostring(err))) end
  end
  if flags.debug then require("essh.debugging").on = true end
  if flags.version then out:write("essh ", native.version, " (", native.interpreter, ")\n") return 0 end
  if flags["bash-completion"] then return require("essh.cli.complete").script("bash", out) end
  if flags["zsh-completion"] then return require("essh.cli.complete").script("zsh", out) end
  if flags.aliases then return require("essh.cli.complete").script("aliases", out) end
  if flags.init then return require("essh.cli.scaffold").command(out) end
  -- The history needs no config: it reads the default store.
  if flags.history then
    local _, more = flags_of.parse(argv, flags, rest)
    if #words + #more > 1 then flags_of.usage_error("--history takes at most one task name") end
    return require("essh.cli.history").command(words[1] or more[1], flags, out)
  end
  local permissions = require "essh.permissions"
  if flags.audit then
    local ok, err = permissions.audit(flags.audit)
    if not ok then flags_of.usage_error(("--audit: %s"):format(tostring(err))) end
  end
  -- What limits this run: the command line's grants, and an untrusted config's sandbox. They
  -- apply once essh has found and read the config files, before the first one runs.
  local limits = {}
  local allow, deny = flags_of.grants(flags)
  if next(allow) or next(deny) then limits[#limits + 1] = permissions.command_line(allow, deny) end
  local files
  if not registry then
    local trust = require "essh.trust"
    files = require("essh.cli.discovery").config_files(flags)
    if flags.trust then return trust.trust(files, out) end
    if flags.untrust then return trust.untrust(files, out) end
    local untrusted = not (flags["trust-once"] or trust.all_trusted()) and trust.untrusted(files) or {}
    if #untrusted > 0 then
      -- Listings of an untrusted config still work, in a sandbox; nothing else starts.
      local listing = flags.help or flags.hosts or flags.tasks or flags.tags or flags.complete or #words == 0
      if not listing then error({ config = trust.refusal(untrusted) }, 0) end
      limits[#limits + 1] = trust.policy(untrusted)
      if flags.help then io.stderr:write(program, ": ", trust.refusal(untrusted), "\n") end
    end
  end
  local function limit()
    for _, p in ipairs(limits) do permissions.restrict(p) end
  end
  if registry then limit() end
  if flags.help then
    if not registry then
      local ok, loaded = pcall(require("essh.cli.discovery").load, flags, files, limit)
      registry = ok and loaded or nil
    end
    out:write(flags_of.help(program, config_commands(registry)))
    return 0
  end

  registry = registry or require("essh.cli.discovery").load(flags, files, limit)
  local name = words[1]
  if next(flags.ssh) and not (name and not registry:get("task", name) and not registry:get("command", name)) then
    flags_of.usage_error("ssh options (-A, -p, ...) apply to a session on a host: essh [ssh options] HOST")
  end
  if flags.openssh then require("essh.connection").backend = "openssh" end
  if flags.F then require("essh.connection.ssh").ssh_config = flags.F ~= "none" and flags.F or false end
  if flags.G then return require("essh.cli.resolve").command(registry, words, out) end

  if flags.complete then return require("essh.cli.complete").command(registry, flags.complete, out) end
  if flags.hosts and flags["ssh-config"] then return require("essh.cli.print").command(registry, flags, out) end
  for _, listing in ipairs { "hosts", "tasks", "tags" } do
    if flags[listing] then return require("essh.cli." .. listing).command(registry, flags, out) end
  end
  -- The generated ssh_config, for what does not run a task (a run writes it itself).
  local function generate()
    local ok, err = require("essh.ssh_config_file").write(registry)
    if not ok then error(err, 0) end
  end
  if flags.print or flags["ssh-config"] then
    generate()
    return require("essh.cli.print").command(registry, flags, out)
  end
  if flags.gen then generate() return 0 end
  if flags.exec then
    local _, args = flags_of.parse(argv, flags, rest)
    for j = #words, 1, -1 do table.insert(args, 1, words[j]) end
    return require("essh.cli.exec").command(registry, flags, args)
  end
  exec_only(flags)
  if #words == 0 then
    out:write(flags_of.help(program))
    return 0
  end
  local task = registry:get("task", name)
  if task then
    if task.disabled then flags_of.usage_error(("task %s is disabled"):format(name)) end
    local _, args = flags_of.parse(argv, flags, rest)
    exec_only(flags)
    return require("essh.cli.run").command(registry, task, args, flags)
  end
  local command = registry:get("command", name)
  if command then
    generate()
    local args = {}
    for j = rest, #argv do args[#args + 1] = argv[j] end
    return require("essh.command").run(command, args)
  end
  local interactive = require "essh.cli.interactive"
  if interactive.accepts(registry, name) then
    generate()
    local _, after = require("essh.ssh_args").take(argv, rest, flags.ssh)
    local remote = {}
    for j = after, #argv do remote[#remote + 1] = argv[j] end
    if remote[1] == "--" then table.remove(remote, 1) end
    return interactive.command(registry, name, remote, flags)
  end
  flags_of.usage_error(("no task or host named %s (essh --tasks, essh --hosts)"):format(name))
end

--- Runs the command line `argv` and returns the exit code. Options: registry (use it instead
--- of loading config files), program (the name in messages).
function M.main(argv, options)
  options = options or {}
  argv = argv or {}
  local debugging = require "essh.debugging"
  local debug_mode = debugging.on
  for _, a in ipairs(argv) do
    if a == "--" then break end
    if a == "--debug" then debug_mode = true end
  end
  debugging.on = debug_mode
  -- Hosts' lines reach a pipe (tee, a log) as they come, in order with stderr.
  io.stdout:setvbuf("line")
  local program = options.program or (argv[0] and argv[0]:match("[^/]+$")) or "essh"
  options.program = program
  local ok, result = xpcall(function() return dispatch(argv, options) end, function(e)
    if type(e) == "table" and (e.usage or e.config) then return e end
    return { internal = e, trace = debug.traceback(tostring(e), 2) }
  end)
  -- Locks the run took and did not give back end with it.
  if package.loaded["essh.storage"] then package.loaded["essh.storage"].release_all() end
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
