--- essh.cli: the `essh` command. Finds and loads the config files, lists hosts, tasks and tags,
--- runs tasks and ad hoc commands on many hosts, opens interactive sessions, prints hosts as
--- ssh_config and completion scripts. `main(argv)` returns the exit code.
local native = require "essh_native"
local config = require "essh.config"
local query = require "essh.query"
local runner = require "essh.runner"
local secret = require "essh.secret"
local fs = require "essh.fs"

local json, env = native.json, native.env

local M = {}

-- Every flag: name, value placeholder (nil: a switch; "[=N]": an optional value), help line.
M.FLAGS = {
  { "--help", nil, "show this help" },
  { "--version", nil, "print the version" },
  { "--init", nil, "write an example .esshconfig.lua here" },
  { "--hosts", nil, "list hosts (NAME, DESCRIPTION, TAGS)" },
  { "--tasks", nil, "list tasks (NAME, DESCRIPTION)" },
  { "--tags", nil, "list tags and their hosts" },
  { "--all", nil, "with --hosts / --tasks: include hidden (and disabled) ones" },
  { "--quiet", nil, "listings: names only; runs: hide the hosts' output" },
  { "--json", nil, "machine-readable output (runs: the report on stdout, the rest on stderr)" },
  { "--select", "NAME|TAG", "run on (or list) these hosts instead of the task's targets (repeatable)" },
  { "--filter", "NAME|TAG", "keep only hosts matching every filter (repeatable)" },
  { "--parallel", "[=N]", "run hosts at once (at most N)" },
  { "--prefix", nil, "prefix every output line with its host" },
  { "--dry-run", nil, "print what would run, connect to nothing" },
  { "--on-failure", "=abort|continue|PERCENT", "what a failed host does to the others" },
  { "--exec", "CMD", "run CMD on the hosts given by --target" },
  { "--target", "NAME|TAG", "hosts of --exec (repeatable)" },
  { "--privileged", nil, "with --exec: run as root through sudo" },
  { "--user", "USER", "with --exec: run as USER through sudo" },
  { "--print", nil, "print the hosts as ssh_config (alias --ssh-config)" },
  { "--output", "FILE", "with --print: write FILE (mode 0600) instead of stdout" },
  { "-L", "PORT:HOST:HOSTPORT", "with HOST: forward local PORT (or BIND:PORT) through the session" },
  { "--config", "FILE", "load FILE instead of the project's config (also ESSH_CONFIG)" },
  { "--global", nil, "use only the user's config (~/.essh)" },
  { "--color", nil, "colour the output" },
  { "--no-color", nil, "never colour the output" },
  { "--debug", nil, "show Lua tracebacks of errors" },
  { "--bash-completion", nil, "print a bash completion script" },
  { "--complete", "=tasks|hosts|tags|flags", "print words to complete, as name:description lines" },
  { "--zsh-completion", nil, "print a zsh completion script" },
}

local ALIASES = { ["--ssh-config"] = "--print", ["-h"] = "--help", ["-q"] = "--quiet" }
local REPEATABLE = { ["--select"] = true, ["--filter"] = true, ["--target"] = true, ["-L"] = true }

local USAGE = [[
usage: essh [flags] TASK [args...]      run a task
       essh [flags] HOST [command...]   open a shell on a host, or run one command
       essh --hosts | --tasks | --tags  list what the config defines
       essh --exec CMD --target TAG     run a command on many hosts
]]

local function help_text(program)
  local lines = { (USAGE:gsub("essh", program, 4)), "flags:" }
  for _, f in ipairs(M.FLAGS) do
    local name = f[1] .. (f[2] and ((f[2]:sub(1, 1) == "=" or f[2]:sub(1, 1) == "[") and f[2] or " " .. f[2]) or "")
    lines[#lines + 1] = ("  %-36s %s"):format(name, f[3])
  end
  return table.concat(lines, "\n") .. "\n"
end

-- A usage error: printed as one line, exit 2.
local function usage_error(message)
  error({ usage = message }, 0)
end

--- Parses argv from index `i` (default 1) into `flags` (a table keyed by flag name, new when
--- nil) and `words`. With `stop` it returns at the first word: the index after it comes third.
--- Flags may come anywhere before `--`.
local KNOWN = {}
for _, f in ipairs(M.FLAGS) do KNOWN[f[1]] = f end

function M.parse(argv, flags, i, stop)
  flags = flags or { select = {}, filter = {}, target = {}, L = {} }
  local words = {}
  i = i or 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do words[#words + 1] = argv[j] end
      return flags, words, #argv + 1
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local name, value = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      name = ALIASES[name] or name
      local f = KNOWN[name]
      if not f then usage_error(("unknown flag %s (see --help)"):format(a)) end
      local placeholder = f[2]
      if placeholder == nil then
        if value then usage_error(("%s takes no value"):format(name)) end
        value = true
      elseif placeholder:sub(1, 1) == "[" or placeholder:sub(1, 1) == "=" then
        if placeholder:sub(1, 1) == "=" and not value then
          usage_error(("%s needs a value: %s%s"):format(name, name, placeholder))
        end
        value = value or true
      elseif not value then
        value = argv[i + 1]
        if value == nil then usage_error(("%s needs a value (%s)"):format(name, placeholder)) end
        i = i + 1
      end
      local key = name:gsub("^%-%-?", "")
      if REPEATABLE[name] then
        local list = flags[key]
        list[#list + 1] = value
      else
        flags[key] = value
      end
    else
      words[#words + 1] = a
      if stop then return flags, words, i + 1 end
    end
    i = i + 1
  end
  return flags, words, i
end

local function home(path)
  local h = env.get("HOME")
  return h and fs.join(h, path) or nil
end

--- The config files to load, in order: the project's (or --config / ESSH_CONFIG), else the
--- user's; then the override files that exist.
function M.config_files(flags)
  local files = {}
  local function add(path)
    if path and fs.exists(path) then files[#files + 1] = path return true end
  end
  local explicit = flags.config or env.get("ESSH_CONFIG")
  if explicit then
    if not fs.exists(explicit) then usage_error(("no config file %s"):format(explicit)) end
    files[1] = explicit
  elseif flags.global then
    add(home(".essh/config.lua"))
  elseif not (add(".esshconfig.lua") or add("esshconfig.lua")) then
    add(home(".essh/config.lua"))
  end
  if not flags.global and not explicit then add(".esshconfig_override.lua") end
  add(home(".essh/config_override.lua"))
  return files
end

-- Lets config files require the user's own modules from ./.essh/lib and ~/.essh/lib.
local function add_lib_paths(flags)
  local dirs = {}
  if not flags.global then dirs[#dirs + 1] = ".essh/lib" end
  dirs[#dirs + 1] = home(".essh/lib")
  local parts = {}
  for _, d in ipairs(dirs) do parts[#parts + 1] = d .. "/?.lua;" .. d .. "/?/init.lua" end
  package.path = table.concat(parts, ";") .. ";" .. package.path
end

local function columns(rows, out)
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #cell) end
  end
  for _, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      cells[i] = i < #row and cell .. (" "):rep(widths[i] - #cell) or cell
    end
    out:write((table.concat(cells, "  "):gsub("%s+$", "")), "\n")
  end
end

-- `t` marked as a JSON array (so an empty one stays []).
local function array(t) return setmetatable(t, json.array_mt) end

local function write_json(out, value, sort)
  out:write(assert(json.encode(value, { indent = true, sort_keys = sort })), "\n")
end

local function hosts_of(registry, flags)
  local q = query.new(registry, #flags.select > 0 and flags.select or nil)
  if #flags.filter > 0 then q = q:filter(flags.filter) end
  if not flags.all then q = q:visible() end
  return q:list()
end

local function list_hosts(registry, flags, out)
  local hosts = hosts_of(registry, flags)
  if flags.json then
    local items = {}
    for i, h in ipairs(hosts) do
      local tags = {}
      for j, tag in ipairs(h.tags) do tags[j] = tag end
      items[i] = { name = h.name, description = h.description, tags = array(tags),
        hidden = h.hidden or false, HostName = h.HostName, User = h.User, Port = h.Port and tonumber(h.Port) }
    end
    write_json(out, array(items))
  elseif flags.quiet then
    for _, h in ipairs(hosts) do out:write(h.name, "\n") end
  else
    local rows = { { "NAME", "DESCRIPTION", "TAGS" } }
    for _, h in ipairs(hosts) do rows[#rows + 1] = { h.name, h.description or "", table.concat(h.tags, ",") } end
    columns(rows, out)
  end
end

local function visible_tasks(registry, flags)
  local tasks = {}
  for _, t in ipairs(registry:list("task")) do
    if flags.all or not (t.hidden or t.disabled) then tasks[#tasks + 1] = t end
  end
  return tasks
end

local function list_tasks(registry, flags, out)
  local tasks = visible_tasks(registry, flags)
  if flags.json then
    local items = {}
    for i, t in ipairs(tasks) do
      local targets = type(t.targets) == "string" and { t.targets } or t.targets
      items[i] = { name = t.name, description = t.description, hidden = t.hidden or false,
        disabled = t.disabled or false, backend = t.backend,
        targets = targets and array(targets) or nil }
    end
    write_json(out, array(items))
  elseif flags.quiet then
    for _, t in ipairs(tasks) do out:write(t.name, "\n") end
  else
    local rows = { { "NAME", "DESCRIPTION" } }
    for _, t in ipairs(tasks) do
      rows[#rows + 1] = { t.name, (t.description or "") .. (t.disabled and " (disabled)" or "") }
    end
    columns(rows, out)
  end
end

--- Every tag, sorted, with the names of its visible hosts.
local function tags_of(registry, flags)
  local by_tag, names = {}, {}
  for _, h in ipairs(hosts_of(registry, flags)) do
    for _, tag in ipairs(h.tags) do
      if not by_tag[tag] then by_tag[tag] = {} names[#names + 1] = tag end
      table.insert(by_tag[tag], h.name)
    end
  end
  table.sort(names)
  return names, by_tag
end

local function list_tags(registry, flags, out)
  local names, by_tag = tags_of(registry, flags)
  if flags.json then
    local items = {}
    for i, tag in ipairs(names) do items[i] = { name = tag, hosts = array(by_tag[tag]) } end
    write_json(out, array(items))
  elseif flags.quiet then
    for _, tag in ipairs(names) do out:write(tag, "\n") end
  else
    local rows = { { "TAG", "HOSTS" } }
    for _, tag in ipairs(names) do rows[#rows + 1] = { tag, table.concat(by_tag[tag], ",") } end
    columns(rows, out)
  end
end

local function print_ssh_config(registry, flags, out)
  local blocks = { "# Hosts of essh (essh --print)\n" }
  for _, h in ipairs(hosts_of(registry, { select = flags.select, filter = flags.filter, all = true })) do
    blocks[#blocks + 1] = h:ssh_config()
  end
  local text = table.concat(blocks, "\n")
  if flags.output then
    assert(fs.write(flags.output, text, { mode = 384 })) -- 0600
    assert(fs.chmod(flags.output, 384))
  else
    out:write(text)
  end
end

M.EXAMPLE = [[
-- .esshconfig.lua: the hosts and tasks of this project, for essh (essh --help).
-- `essh --hosts` and `essh --tasks` list them; `essh TASK` runs a task; `essh HOST` logs in.

host "web1" {
  HostName = "192.0.2.10",      -- any ssh_config option, CamelCase: User, Port, IdentityFile, ProxyJump...
  User = "deploy",
  description = "first web server",
  tags = { "web", "production" },
}

host "web2" {
  HostName = "192.0.2.11",
  User = "deploy",
  tags = { "web", "production" },
}

-- A script runs on every target (a host name or a tag) through bash, with set -e.
task "uptime" {
  description = "show the load of the web servers",
  targets = "web",
  parallel = true,              -- all at once (or a number: at most that many)
  script = "uptime",
}

-- A Lua function gets the task: t:run() runs a command on the current host.
task "deploy" {
  description = "pull and restart the app",
  targets = "web",
  on_failure = "abort",         -- start no new hosts after a failure ("continue", or a percentage)
  script = function(t)
    local r = t:run("cd /srv/app && git pull --ff-only")
    if not r.ok then error(r.stderr) end
    t:run("systemctl restart app", { privileged = true })
  end,
}
]]

local function init_config(out)
  if fs.exists(".esshconfig.lua") then usage_error(".esshconfig.lua already exists here") end
  assert(fs.write(".esshconfig.lua", M.EXAMPLE))
  out:write("wrote .esshconfig.lua\n")
end

-- Words that complete, for the completion scripts: "name:description" lines.
local function complete(registry, kind, out)
  if kind == "tasks" then
    for _, t in ipairs(visible_tasks(registry, {})) do out:write(t.name, ":", t.description or "", "\n") end
  elseif kind == "hosts" then
    for _, h in ipairs(hosts_of(registry, { select = {}, filter = {} })) do
      out:write(h.name, ":", h.description or "", "\n")
    end
  elseif kind == "tags" then
    for _, tag in ipairs((tags_of(registry, { select = {}, filter = {} }))) do out:write(tag, ":tag\n") end
  elseif kind == "flags" then
    for _, f in ipairs(M.FLAGS) do out:write(f[1], ":", f[3], "\n") end
  end
end

local function completion_script(shell, out)
  out:write(require("essh.completion")[shell])
end

local function write_report(out, task_name, report)
  local hosts = {}
  local names = {}
  for name in pairs(report.hosts) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    local h = report.hosts[name]
    hosts[i] = { name = name, status = h.status, ok = h.ok, exitStatus = h.exitStatus,
      error = h.error and tostring(h.error) or nil, duration = h.duration }
  end
  write_json(out, {
    task = task_name, ok = report.ok, exit_code = runner.exit_code(report), duration = report.duration,
    error = report.error and tostring(report.error) or nil, interrupted = report.interrupted or false,
    hosts = array(hosts), failed = array(report.failed), unreachable = array(report.unreachable),
    skipped = array(report.skipped),
  }, true)
end

-- Asks for the sudo password on the terminal, without echo; nil when there is no terminal.
local function ask_sudo_password()
  local tty = io.open("/dev/tty", "r")
  if not tty then return nil end
  io.stderr:write("sudo password: ")
  os.execute("stty -echo < /dev/tty 2>/dev/null")
  local password = tty:read("*l")
  os.execute("stty echo < /dev/tty 2>/dev/null")
  io.stderr:write("\n")
  tty:close()
  return password and secret(password) or nil
end

local function discard() return { write = function() end } end

local function run_task(registry, task, args, flags)
  local options = { args = #args > 0 and args or nil, dry_run = flags["dry-run"] or nil,
    sudo_password = ask_sudo_password }
  if #flags.select > 0 then options.select = flags.select end
  if #flags.filter > 0 then options.filter = flags.filter end
  if flags.parallel then options.parallel = flags.parallel == true or tonumber(flags.parallel) end
  if flags.parallel and flags.parallel ~= true and not tonumber(flags.parallel) then
    usage_error("--parallel takes a number: --parallel=N")
  end
  local policy = flags["on-failure"]
  if policy then
    if policy ~= "abort" and policy ~= "continue" and not tonumber(policy) then
      usage_error("--on-failure is abort, continue or a percentage")
    end
    options.on_failure = tonumber(policy) or policy
  end
  if flags.color then options.color = true elseif flags["no-color"] then options.color = false end
  if flags.prefix then
    local copy = {}
    for k, v in pairs(task) do copy[k] = v end
    copy.prefix = copy.prefix or true
    task = copy
  end
  local human = flags.json and io.stderr or io.stdout
  options.stdout, options.stderr = human, io.stderr
  local progress
  if flags.quiet then
    options.stdout, options.stderr = discard(), discard()
    progress = require("essh.progress").start(task, io.stderr, options.color)
  end
  local report = runner.run(registry, task, options)
  if progress then progress.stop(report) end
  if report.error then io.stderr:write("essh: ", tostring(report.error), "\n") end
  if report.interrupted then io.stderr:write("essh: interrupted\n") end
  local count = 0
  for _ in pairs(report.hosts) do count = count + 1 end
  if not options.dry_run and (count > 1 or not report.ok) then runner.summary(report, io.stderr) end
  if flags.json then write_report(io.stdout, task.name, report) end
  return runner.exit_code(report)
end

local function exec_task(flags, command)
  if #flags.target == 0 and #flags.select == 0 then usage_error("--exec needs --target NAME|TAG") end
  return {
    name = "exec", backend = "remote", script = command,
    targets = #flags.target > 0 and flags.target or flags.select,
    privileged = flags.privileged or nil, user = flags.user,
  }
end

-- Whether `name` can be logged into: a defined host, a name of ~/.ssh/config, or an address.
local function ssh_config_names()
  local names = {}
  local path = home(".ssh/config")
  local f = path and io.open(path)
  if not f then return names end
  for line in f:lines() do
    local list = line:match("^%s*[Hh][Oo][Ss][Tt]%s+(.-)%s*$")
    if list then
      for word in list:gmatch("%S+") do
        if not word:find("[%*%?!]") then names[word] = true end
      end
    end
  end
  f:close()
  return names
end

local function interactive(registry, name, command, flags)
  local host = registry:get("host", name)
  local options = host and host:connect_options() or { host = (name:match("@(.+)$") or name),
    user = name:match("^(.-)@") }
  local ctx = { host = host or { name = name }, name = "ssh" }
  if host then runner.run_hook(host.before_connect, host, ctx) end
  local session, err = native.ssh.connect(options)
  if not session then
    io.stderr:write("essh: ", tostring(err), "\n")
    return 255
  end
  local forwards = {}
  for _, spec in ipairs(flags.L) do
    local port, to_host, to_port = spec:match("^(%d+):(.+):(%d+)$")
    if not port then
      port, to_host, to_port = spec:match("^[^:]+:(%d+):(.+):(%d+)$")
    end
    if not port then usage_error(("-L %s: expected [BIND:]PORT:HOST:HOSTPORT"):format(spec)) end
    forwards[#forwards + 1] = assert(session:forward_local(tonumber(port), to_host, tonumber(to_port)))
  end
  if host then runner.run_hook(host.after_connect, host, ctx, session) end
  io.stdout:flush()
  local result, failure = session:interactive(#command > 0 and table.concat(command, " ") or nil)
  for _, f in ipairs(forwards) do f:close() end
  session:close()
  if host then runner.run_hook(host.after_disconnect, host, ctx) end
  if not result then
    io.stderr:write("essh: ", tostring(failure), "\n")
    return 255
  end
  return result.exitStatus
end

local function dispatch(argv, options)
  local registry = options.registry
  local program = options.program or "essh"
  -- Flags up to the first word; after a task, more flags and its arguments; after a host, its command.
  local flags, words, rest = M.parse(argv, nil, 1, true)
  local out = io.stdout
  if flags.help then out:write(help_text(program)) return 0 end
  if flags.version then out:write("essh ", native.version, " (", native.interpreter, ")\n") return 0 end
  if flags["bash-completion"] then completion_script("bash", out) return 0 end
  if flags["zsh-completion"] then completion_script("zsh", out) return 0 end
  if flags.init then init_config(out) return 0 end

  if not registry then
    add_lib_paths(flags)
    local files = M.config_files(flags)
    local loaded, err = config.load_files(files)
    if not loaded then error({ config = err }, 0) end
    registry = loaded
  end

  if flags.complete then complete(registry, flags.complete, out) return 0 end
  if flags.hosts then list_hosts(registry, flags, out) return 0 end
  if flags.tasks then list_tasks(registry, flags, out) return 0 end
  if flags.tags then list_tags(registry, flags, out) return 0 end
  if flags.print then print_ssh_config(registry, flags, out) return 0 end
  if flags.exec then
    if flags.exec == true then usage_error("--exec needs a command") end
    local _, args = M.parse(argv, flags, rest)
    for j = #args, 1, -1 do table.insert(args, 1, words[j]) end
    return run_task(registry, exec_task(flags, flags.exec), args, flags)
  end
  if #words == 0 then
    io.stderr:write(help_text(program))
    return 2
  end
  local name = words[1]
  local task = registry:get("task", name)
  if task then
    if task.disabled then usage_error(("task %s is disabled"):format(name)) end
    local _, args = M.parse(argv, flags, rest)
    return run_task(registry, task, args, flags)
  end
  if registry:get("host", name) or ssh_config_names()[name] or name:find("[%.@:]") then
    local command = {}
    for j = rest, #argv do command[#command + 1] = argv[j] end
    if command[1] == "--" then table.remove(command, 1) end
    return interactive(registry, name, command, flags)
  end
  usage_error(("no task or host named %s (essh --tasks, essh --hosts)"):format(name))
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
