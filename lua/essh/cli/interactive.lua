--- essh.cli.interactive: `essh HOST [command...]`: a shell (or one command) on a host, joined
--- to this terminal, with -L tunnels, between the host's hooks.
local connection = require "essh.connection"
local host_of = require "essh.host"
local discovery = require "essh.cli.discovery"
local flags_of = require "essh.cli.flags"

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

-- The tunnels of the -L flags, opened over `conn`.
local function forwards(conn, specs)
  local opened = {}
  for _, spec in ipairs(specs) do
    local port, to_host, to_port = spec:match("^(%d+):(.+):(%d+)$")
    if not port then
      port, to_host, to_port = spec:match("^[^:]+:(%d+):(.+):(%d+)$")
    end
    if not port then flags_of.usage_error(("-L %s: expected [BIND:]PORT:HOST:HOSTPORT"):format(spec)) end
    opened[#opened + 1] = assert(conn:forward(tonumber(port), to_host, tonumber(to_port)))
  end
  return opened
end

--- Opens the session on `name` (a defined host, or [user@]address) and returns its exit status.
function M.command(registry, name, command, flags)
  local host = registry:get("host", name)
    or host_of.new(name:match("@(.+)$") or name, { User = name:match("^(.-)@") })
  local ctx = { host = host, name = "ssh" }
  local result, failure
  local done, err = connection.around(host, ctx, function(conn)
    local opened = forwards(conn, flags.L)
    io.stdout:flush()
    result, failure = conn:interactive(#command > 0 and table.concat(command, " ") or nil)
    for _, f in ipairs(opened) do f:close() end
  end)
  if not done then failure = err end
  if not result then
    io.stderr:write("essh: ", tostring(failure), "\n")
    return 255
  end
  return result.exitStatus
end

return M
