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

return M
