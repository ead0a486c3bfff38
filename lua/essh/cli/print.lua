--- essh.cli.print: `essh --print`: the hosts as ssh_config, on stdout or into a file of mode
--- 0600 (--output).
local fs = require("essh_native").fs
local hosts = require "essh.cli.hosts"

local M = {}

function M.command(registry, flags, out)
  local blocks = { "# Hosts of essh (essh --print)\n" }
  for _, h in ipairs(hosts.selected(registry, { select = flags.select, filter = flags.filter, all = true })) do
    blocks[#blocks + 1] = h:ssh_config()
  end
  local text = table.concat(blocks, "\n")
  if flags.output then
    assert(fs.write(flags.output, text, { mode = 384 })) -- 0600
    assert(fs.chmod(flags.output, 384))
  else
    out:write(text)
  end
  return 0
end

return M
