--- essh.cli.print: `essh --print` (every host) and `essh --hosts --ssh-config` (the selected
--- ones) as ssh_config, sorted by name, as essh v3 printed them; on stdout or into a file of
--- mode 0600 (--output).
local fs = require("essh_native").fs
local hosts = require "essh.cli.hosts"
local ssh_config_file = require "essh.ssh_config_file"

local M = {}

function M.command(registry, flags, out)
  local selection = flags.hosts and flags or { select = flags.select, filter = flags.filter, all = true }
  local text = ssh_config_file.text(hosts.selected(registry, selection))
  if flags.output then
    assert(fs.write(flags.output, text, { mode = 384 })) -- 0600
    assert(fs.chmod(flags.output, 384))
  else
    out:write(text)
  end
  return 0
end

return M
