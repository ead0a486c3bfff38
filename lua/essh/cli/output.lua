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

-- The bytes a valid UTF-8 sequence may have after a lead byte: the second byte's range
-- (narrower after E0, ED, F0 and F4: no overlong forms, surrogates or code points past
-- U+10FFFF), and the sequence's length.
local function sequence(lead)
  if lead < 0x80 then return 1 end
  if lead >= 0xC2 and lead <= 0xDF then return 2, 0x80, 0xBF end
  if lead == 0xE0 then return 3, 0xA0, 0xBF end
  if lead == 0xED then return 3, 0x80, 0x9F end
  if lead >= 0xE1 and lead <= 0xEF then return 3, 0x80, 0xBF end
  if lead == 0xF0 then return 4, 0x90, 0xBF end
  if lead >= 0xF1 and lead <= 0xF3 then return 4, 0x80, 0xBF end
  if lead == 0xF4 then return 4, 0x80, 0x8F end
  return 0
end

--- `s` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD (the
--- replacement character), so that text from hosts always fits in JSON.
function M.utf8(s)
  if not s:find("[\128-\255]") then return s end
  local out, i, n = {}, 1, #s
  while i <= n do
    local len, low, high = sequence(s:byte(i))
    local ok = len > 0 and i + len - 1 <= n
    if ok and len > 1 then
      local second = s:byte(i + 1)
      ok = second >= low and second <= high
      for k = 2, len - 1 do
        local b = s:byte(i + k)
        ok = ok and b >= 0x80 and b <= 0xBF
      end
    end
    if ok then
      out[#out + 1] = s:sub(i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = "\239\191\189"
      i = i + 1
    end
  end
  return table.concat(out)
end

--- `value` with every string in it (keys too) made valid UTF-8 (see M.utf8).
function M.valid_text(value)
  if type(value) == "string" then return M.utf8(value) end
  if type(value) ~= "table" then return value end
  local copy = setmetatable({}, getmetatable(value))
  for k, v in pairs(value) do copy[M.valid_text(k)] = M.valid_text(v) end
  return copy
end

--- Writes `value` as indented JSON, keys sorted when `sort`; strings that are not valid UTF-8
--- (a host's output in an error, say) have their invalid bytes replaced by U+FFFD.
function M.json(out, value, sort)
  out:write(assert(json.encode(M.valid_text(value), { indent = true, sort_keys = sort })), "\n")
end

return M
