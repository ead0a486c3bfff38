--- essh.cli.output: how the essh command prints tables, for people and as JSON.
local json = require("essh_native").json

local M = {}

--- Writes `rows` (lists of strings) as aligned columns.
function M.columns(rows, out)
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

--- `t` marked as a JSON array (so an empty one stays []).
function M.array(t) return setmetatable(t, json.array_mt) end

--- Writes `value` as indented JSON, keys sorted when `sort`.
function M.json(out, value, sort)
  out:write(assert(json.encode(value, { indent = true, sort_keys = sort })), "\n")
end

return M
