--- essh.cli.scaffold: `essh --init`: writes an example .esshconfig.lua here.
local fs = require("essh_native").fs
local flags = require "essh.cli.flags"

local M = {}

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

-- A script runs on every target (a host name or a tag) through bash, with set -e. Without
-- backend = "remote" it runs here, once per target, with the host's ESSH_* variables (as in essh v3).
task "uptime" {
  description = "show the load of the web servers",
  backend = "remote",
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

function M.command(out)
  for _, existing in ipairs { ".esshconfig.lua", "esshconfig.lua" } do
    if fs.exists(existing) then flags.usage_error(existing .. " already exists here") end
  end
  assert(fs.write(".esshconfig.lua", M.EXAMPLE))
  out:write("wrote .esshconfig.lua\n")
  return 0
end

return M
