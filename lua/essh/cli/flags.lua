--- essh.cli.flags: the flags of the essh command, their parser and the help text. ssh's own
--- options (-A, -p 2222, ...) are read into `flags.ssh`, as ssh_config settings.
local ssh_args = require "essh.ssh_args"

local M = {}

-- Every flag: name, value placeholder (nil: a switch; "[=N]": an optional value), help line.
M.FLAGS = {
  { "--help", nil, "show this help" },
  { "--version", nil, "print the version" },
  { "--init", nil, "write an example .esshconfig.lua here" },
  { "--hosts", nil, "list hosts (NAME, DESCRIPTION, TAGS)" },
  { "--tasks", nil, "list tasks (NAME, DESCRIPTION)" },
  { "--tags", nil, "list tags and their hosts" },
  { "--history", nil, "list the last 20 runs (of TASK when given; every one with --all)" },
  { "--all", nil, "with --hosts / --tasks: include hidden (and disabled) ones; with --history: every run" },
  { "--quiet", nil, "listings: names only; runs: hide the hosts' output" },
  { "--json", nil, "machine-readable output (runs: the report on stdout, the rest on stderr)" },
  { "--select", "NAME|TAG", "run on (or list) these hosts instead of the task's targets (repeatable)" },
  { "--filter", "NAME|TAG", "keep only hosts matching every filter (repeatable)" },
  { "--parallel", "[=N]", "run hosts at once (at most N)" },
  { "--prefix", nil, "prefix every output line with its host" },
  { "--dry-run", nil, "print what would run, connect to nothing" },
  { "--on-failure", "=abort|continue|PERCENT", "what a failed host does to the others" },
  { "--exec", nil, "run the command given by the remaining words on the hosts of --target" },
  { "--target", "NAME|TAG", "hosts of --exec (repeatable)" },
  { "--backend", "remote|local", "with --exec: run on the hosts (remote) or here once per host (local)" },
  { "--prefix-string", "TEMPLATE", "with --exec: the prefix of each line, a Go template ({{.Host.Name}})" },
  { "--privileged", nil, "with --exec: run as root through sudo" },
  { "--user", "USER", "with --exec: run as USER through sudo" },
  { "--pty", nil, "with --exec: give the command a terminal (as ssh -t -t)" },
  { "--script-file", nil, "with --exec: the words name a script file (or an http(s) URL) to run" },
  { "--driver", "NAME", "with --exec: render the command through this driver" },
  { "--print", nil, "print the hosts as ssh_config" },
  { "--ssh-config", nil, "with --hosts: the selected hosts as ssh_config" },
  { "--gen", nil, "only write the generated ssh_config (essh.ssh_config)" },
  { "--output", "FILE", "with --print: write FILE (mode 0600) instead of stdout" },
  { "--aliases", nil, "print shell functions escp and ersync (scp and rsync over essh's hosts)" },
  { "--working-dir", "DIR", "change to DIR first" },
  { "--openssh", nil, "connect through the system's OpenSSH client (one ControlMaster a host)" },
  { "-G", nil, "with HOST ([USER@]HOST): print its resolved ssh configuration, as ssh -G does" },
  { "-F", "FILE", "read this ssh_config instead of ~/.ssh/config and /etc/ssh/ssh_config (none: no file)" },
  { "--config", "FILE", "load FILE instead of the project's config (also ESSH_CONFIG)" },
  { "--global", nil, "use only the user's config (~/.essh)" },
  { "--color", nil, "colour the output" },
  { "--no-color", nil, "never colour the output" },
  { "--debug", nil, "debug output ([essh debug] lines) and Lua tracebacks of errors (also ESSH_DEBUG=1)" },
  { "--bash-completion", nil, "print a bash completion script" },
  { "--complete", "=tasks|hosts|tags|flags", "print words to complete, as name:description lines" },
  { "--zsh-completion", nil, "print a zsh completion script" },
  { "--trust", nil, "trust the config files here (records their sha256 in ~/.essh/trusted)" },
  { "--untrust", nil, "stop trusting the config files here" },
  { "--trust-once", nil, "trust the config files for this run only" },
  { "--allow-all", nil, "allow every permission (the default for a trusted config)" },
  { "--audit", "FILE", "append one JSON line per permission decision to FILE" },
}

--- The permissions --allow-NAME[=LIST] and --deny-NAME[=LIST] take.
M.PERMISSIONS = { "read", "write", "net", "ssh", "run", "env", "storage", "db" }
for _, kind in ipairs { "allow", "deny" } do
  for _, p in ipairs(M.PERMISSIONS) do
    M.FLAGS[#M.FLAGS + 1] = { "--" .. kind .. "-" .. p, "[=LIST]", kind == "allow"
      and ("allow " .. p .. " (only these, comma-separated); any --allow-* allows only what the --allow-* flags name")
      or ("refuse " .. p .. " (these, or all)") }
  end
end

--- The command line's grants: allow and deny tables (permission -> true or patterns).
function M.grants(flags)
  local allow, deny = {}, {}
  local function value(v)
    if v == true then return true end
    local list = {}
    for item in tostring(v):gmatch("[^,]+") do list[#list + 1] = item end
    return list
  end
  for _, p in ipairs(M.PERMISSIONS) do
    if flags["allow-" .. p] then allow[p] = value(flags["allow-" .. p]) end
    if flags["deny-" .. p] then deny[p] = value(flags["deny-" .. p]) end
  end
  if flags["allow-all"] then
    for _, p in ipairs(M.PERMISSIONS) do allow[p] = true end
  end
  return allow, deny
end

local ALIASES = { ["-h"] = "--help" }
local REPEATABLE = { ["--select"] = true, ["--filter"] = true, ["--target"] = true }

local USAGE = [[
usage: essh [flags] TASK [args...]                 run a task
       essh [flags] COMMAND [args...]              run a command the config defines (essh.command)
       essh [flags] HOST [ssh options] [command]   open a shell on a host, or run one command
       essh --hosts | --tasks | --tags             list what the config defines
       essh --exec --target TAG CMD...             run a command on many hosts
]]

--- The help text, with `program` as the command's name; `commands` (name, description pairs)
--- are the config's own.
function M.help(program, commands)
  local lines = { (USAGE:gsub("essh", program, 5)), "flags:" }
  for _, f in ipairs(M.FLAGS) do
    local name = f[1] .. (f[2] and ((f[2]:sub(1, 1) == "=" or f[2]:sub(1, 1) == "[") and f[2] or " " .. f[2]) or "")
    lines[#lines + 1] = ("  %-36s %s"):format(name, f[3])
  end
  lines[#lines + 1] = "ssh options (-A, -p PORT, -L SPEC, -R SPEC, -t, -o KEY=VALUE, ...) may come before or after HOST."
  if commands and #commands > 0 then
    lines[#lines + 1] = "commands of this config:"
    for _, c in ipairs(commands) do lines[#lines + 1] = ("  %-36s %s"):format(c[1], c[2] or "") end
  end
  return table.concat(lines, "\n") .. "\n"
end

--- Raises a usage error: printed as one line, exit 2.
function M.usage_error(message)
  error({ usage = message }, 0)
end

local KNOWN = {}
for _, f in ipairs(M.FLAGS) do KNOWN[f[1]] = f end

--- Parses argv from index `i` (default 1) into `flags` (a table keyed by flag name, new when
--- nil) and `words`. With `stop` it returns at the first word: the index after it comes third.
--- Flags may come anywhere before `--`.
function M.parse(argv, flags, i, stop)
  flags = flags or { select = {}, filter = {}, target = {}, ssh = {} }
  local words = {}
  i = i or 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, #argv do words[#words + 1] = argv[j] end
      return flags, words, #argv + 1
    elseif a:sub(1, 1) == "-" and a:sub(2, 2) ~= "-" and not KNOWN[a] and ssh_args.is_option(a) then
      local _, next_i = ssh_args.take(argv, i, flags.ssh)
      i = next_i - 1
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      local name, value = a:match("^(%-%-?[^=]+)=(.*)$")
      name = name or a
      name = ALIASES[name] or name
      local f = KNOWN[name]
      if not f then M.usage_error(("unknown flag %s (see --help)"):format(a)) end
      local placeholder = f[2]
      if placeholder == nil then
        if value then M.usage_error(("%s takes no value"):format(name)) end
        value = true
      elseif placeholder:sub(1, 1) == "[" or placeholder:sub(1, 1) == "=" then
        if placeholder:sub(1, 1) == "=" and not value then
          M.usage_error(("%s needs a value: %s%s"):format(name, name, placeholder))
        end
        value = value or true
      elseif not value then
        value = argv[i + 1]
        if value == nil then M.usage_error(("%s needs a value (%s)"):format(name, placeholder)) end
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

return M
