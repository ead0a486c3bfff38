--- essh.debugging: essh v3's debug output (`--debug`, `ESSH_DEBUG`, `essh.debug(msg)`):
--- `[essh debug] ...` lines on stderr while it is on.
local env = require("essh_native").env

local M = {}

local value = env.get("ESSH_DEBUG")
--- Whether debug output is on.
M.on = value ~= nil and value ~= ""

--- Writes `message` as a debug line, when debug output is on.
function M.say(message)
  if M.on then io.stderr:write("[essh debug] ", message, "\n") end
end

return M
