--- essh.fs: files and directories: the native fs module (see types/fs.lua), plus `dir` and
--- `script_dir`, which need the Lua side.
local native = require("essh_native").fs

-- Read through to the native table (pairs() over it needs __pairs, which 5.1 lacks).
local M = setmetatable({}, { __index = native })

--- Iterates over the names in a directory, sorted: `for name in fs.dir(path) do ... end`.
--- Raises when the directory cannot be read, like LuaFileSystem's `lfs.dir`.
---@param path string
---@return fun(): string?
function M.dir(path)
  local names, err = native.list(path)
  if not names then error(tostring(err), 2) end
  local i = 0
  return function()
    i = i + 1
    return names[i]
  end
end

--- The directory of the script that calls this (or of the function `level` levels up), as an
--- absolute path; the working directory for code that is not in a file.
---@param level integer?
---@return string
function M.script_dir(level)
  local info = debug.getinfo((level or 1) + 1, "S")
  local source = info and info.source or ""
  if source:sub(1, 1) == "@" then return native.dirname(native.abspath(source:sub(2))) end
  return native.abspath(".")
end

return M
