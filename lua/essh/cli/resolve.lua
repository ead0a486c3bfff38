--- essh.cli.resolve: `essh -G [USER@]HOST` prints the configuration a connection to HOST
--- would use, in the format of `ssh -G`. A defined host's ssh options come first, as a
--- `Host <name>` block read before ssh_config; any other name is resolved as ssh would.
local native_ssh = require("essh_native").ssh
local connection = require "essh.connection.ssh"
local flags_of = require "essh.cli.flags"

local M = {}

function M.command(registry, words, out)
  local destination = words[1]
  if not destination or words[2] then flags_of.usage_error("-G takes one host: essh -G [USER@]HOST") end
  local user, name = destination:match("^(.*)@([^@]+)$")
  name = name or destination
  if user == "" then flags_of.usage_error("-G: an empty user in " .. destination) end
  local host = registry:get("host", name)
  local options = host and connection.options(host) or { host = name, ssh_config = connection.ssh_config }
  options.user = user
  out:write(native_ssh.resolve(options))
  return 0
end

return M
