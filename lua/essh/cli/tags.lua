--- essh.cli.tags: `essh --tags`: every tag and its hosts, as names alone with --quiet, or as
--- JSON.
local hosts = require "essh.cli.hosts"
local output = require "essh.cli.output"

local M = {}

--- Every tag, sorted, with the names of its selected hosts.
function M.of(registry, flags)
  local by_tag, names = {}, {}
  for _, h in ipairs(hosts.selected(registry, flags)) do
    for _, tag in ipairs(h.tags) do
      if not by_tag[tag] then by_tag[tag] = {} names[#names + 1] = tag end
      table.insert(by_tag[tag], h.name)
    end
  end
  table.sort(names)
  return names, by_tag
end

function M.command(registry, flags, out)
  local names, by_tag = M.of(registry, flags)
  if flags.json then
    local items = {}
    for i, tag in ipairs(names) do items[i] = { name = tag, hosts = output.array(by_tag[tag]) } end
    output.json(out, output.array(items))
  elseif flags.quiet then
    for _, tag in ipairs(names) do out:write(tag, "\n") end
  else
    local rows = { { "TAG", "HOSTS" } }
    for _, tag in ipairs(names) do rows[#rows + 1] = { tag, table.concat(by_tag[tag], ",") } end
    output.columns(rows, out)
  end
  return 0
end

return M
