--- essh.secret: a value that never shows itself. `tostring`, concatenation, `inspect` and the
--- log print `******`; `secret.reveal(s)` (or `s:reveal()`) gives the value back to the code
--- that needs it (a password for ssh.connect, say).
local M = {}

local MASK = "******"
local Secret = { __name = "essh.Secret", __metatable = "essh.Secret" }
Secret.__index = { reveal = function(self) return M.reveal(self) end }
Secret.__tostring = function() return MASK end
Secret.__concat = function(a, b)
  return (getmetatable(a) == "essh.Secret" and MASK or tostring(a)) ..
    (getmetatable(b) == "essh.Secret" and MASK or tostring(b))
end

local values = setmetatable({}, { __mode = "k" })

--- Wraps `value` (any type) so that it prints as ******.
function M.new(value)
  local s = setmetatable({}, Secret)
  values[s] = value
  return s
end

--- Whether `v` is a secret.
function M.is(v)
  return values[v] ~= nil
end

--- The wrapped value of a secret; any other value is returned as it is.
function M.reveal(v)
  if values[v] ~= nil then return values[v] end
  return v
end

M.MASK = MASK

return setmetatable(M, { __call = function(_, value) return M.new(value) end })
