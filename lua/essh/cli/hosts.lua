--- essh.cli.hosts: `essh --hosts`: the hosts (NAME, DESCRIPTION, TAGS, HIDDEN), sorted by name
--- as essh v3 listed them, as names alone with --quiet, or as JSON.
local query = require "essh.query"
local output = require "essh.cli.output"

local M = {}

--- The hosts the listing flags select: --select, --filter, hidden ones only with --all.
function M.selected(registry, flags)
  local q = query.new(registry, #flags.select > 0 and flags.select or nil)
  if #flags.filter > 0 then q = q:filter(flags.filter) end
  if not flags.all then q = q:visible() end
  return q:sorted():list()
end

function M.command(registry, flags, out)
  local hosts = M.selected(registry, flags)
  if flags.json then
    local items = {}
    for i, h in ipairs(hosts) do
      local tags = {}
      for j, tag in ipairs(h.tags) do tags[j] = tag end
      items[i] = { name = h.name, description = h.description, tags = output.array(tags),
        hidden = h.hidden or false, HostName = h.HostName, User = h.User, Port = h.Port and tonumber(h.Port) }
    end
    output.json(out, output.array(items))
  elseif flags.quiet then
    for _, h in ipairs(hosts) do out:write(h.name, "\n") end
  else
    local rows = { { "NAME", "DESCRIPTION", "TAGS", "HIDDEN" } }
    for _, h in ipairs(hosts) do
      rows[#rows + 1] = { h.name, h.description or "", table.concat(h.tags, ","), tostring(h.hidden == true) }
    end
    output.columns(rows, out)
  end
  return 0
end

return M
