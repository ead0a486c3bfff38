--- essh.modules: the names of the modules a user reaches as `essh.<name>`, as
--- `require "essh.<name>"`, and by short name (`require "json"`) inside config files: every
--- native module that `essh_native.modules()` declares, then essh's pure-Lua ones.
local native = require "essh_native"

local M = {}

--- The pure-Lua modules, beside the native ones.
M.LUA = { "template", "log", "inspect", "shell", "sh", "storage" }

local names -- made once

--- Every module name, native ones first, in the order of `essh_native.modules()`.
function M.names()
  if not names then
    names = {}
    for _, name in ipairs(native.module_names()) do names[#names + 1] = name end
    for _, name in ipairs(M.LUA) do names[#names + 1] = name end
  end
  local copy = {}
  for i, name in ipairs(names) do copy[i] = name end
  return copy
end

return M
