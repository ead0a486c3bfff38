--- essh.shell: helpers for the POSIX shell command lines essh builds and users write.
local M = {}

--- `s` (any value, as tostring gives it) quoted for a POSIX shell: left bare when it holds
--- only characters no shell treats specially, else in single quotes.
---@param s any
---@return string
function M.quote(s)
  s = tostring(s)
  if s ~= "" and not s:find("[^%w%-_./=:@,+]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The exit status of a command from what `os.execute` returns (Lua 5.1 and LuaJIT give the
--- wait status, later versions three values).
---@return integer
function M.exit_status(a, _, code)
  if type(a) == "number" then return a >= 256 and math.floor(a / 256) or a end
  return code
end

return M
