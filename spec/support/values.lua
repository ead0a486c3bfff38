--- Helpers the specs share: deep comparison that treats decoded JSON and YAML alike.
local M = {}

local function normalize_key(k)
  if type(k) == "number" or type(k) == "boolean" then return tostring(k) end
  return k
end

--- Deep equality of decoded data: nulls by identity, numbers by value, array marks ignored,
--- non-string keys compared by their text (JSON objects only have string keys).
function M.same(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then
    if a ~= a and b ~= b then return true end -- NaN
    return a == b
  end
  local count = 0
  for k, v in pairs(a) do
    count = count + 1
    local other = b[k]
    if other == nil then other = b[normalize_key(k)] end
    if other == nil or not M.same(v, other) then return false end
  end
  for _ in pairs(b) do count = count - 1 end
  return count == 0
end

function M.read(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

function M.listdir(path)
  local names = {}
  local p = assert(io.popen('ls -1 "' .. path .. '" 2>/dev/null'))
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

function M.tempname()
  return os.tmpname()
end

return M
