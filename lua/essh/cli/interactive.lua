--- essh.cli.interactive: `essh HOST [ssh options] [command...]`: a shell (or one command) on a
--- host, joined to this terminal, with ssh's options applied, between the host's hooks.
local connection = require "essh.connection"
local host_of = require "essh.host"
local discovery = require "essh.cli.discovery"

local M = {}

-- The names of ~/.ssh/config's Host lines, without patterns.
local function ssh_config_names()
  local names = {}
  local path = discovery.home(".ssh/config")
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

--- Whether `name` can be logged into: a defined host, a name of ~/.ssh/config, or an address.
function M.accepts(registry, name)
  return registry:get("host", name) ~= nil or ssh_config_names()[name] or name:find("[%.@:]") ~= nil
end

--- Opens the session on `name` (a defined host, or [user@]address) and returns its exit
--- status. ssh's options (`flags.ssh`) apply to the connection. A login (no command) runs the
--- host's hooks as essh v3 did: before_connect here, after_connect in the session before its
--- shell (so a `cd` there stays), after_disconnect here.
function M.command(registry, name, command, flags)
  local host = registry:get("host", name)
    or host_of.new(name:match("@(.+)$") or name, { User = name:match("^(.-)@") })
  local ctx = { host = host, name = "ssh" }
  local login = #command == 0
  local result, failure
  local done, err = connection.around(host, ctx, function(conn, after_connect)
    io.stdout:flush()
    local remote = #command > 0 and table.concat(command, " ") or nil
    if after_connect then remote = after_connect .. "exec $SHELL\n" end
    result, failure = conn:interactive(remote)
  end, nil, { hooks = login, after_connect = "give", ssh = flags.ssh })
  if not done then failure = err end
  if not result then
    io.stderr:write("essh: ", tostring(failure), "\n")
    return 255
  end
  return result.exitStatus
end

return M
