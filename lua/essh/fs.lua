--- essh.fs: files and directories: the native fs module (see types/fs.lua), plus `dir`,
--- `file` and `script_dir`, which need the Lua side, and essh v3's forms of its calls:
--- `mkdir(path, 755, true)`, `write(path, data, 644)` (modes written as octal digits),
--- `remove(path, true)`, `glob(pattern, fn)`, `dir()` and `file()` (the calling script's).
local native = require("essh_native").fs

-- Read through to the native table (pairs() over it needs __pairs, which 5.1 lacks).
local M = setmetatable({}, { __index = native })

--- Iterates over the names in a directory, sorted: `for name in fs.dir(path) do ... end`.
--- Raises when the directory cannot be read, like LuaFileSystem's `lfs.dir`.
---@param path string
---@return fun(): string?
function M.dir(path)
  if path == nil then
    local source = (debug.getinfo(2, "S") or {}).source or ""
    return source:sub(1, 1) == "@" and native.dirname(source:sub(2)) or native.abspath(".")
  end
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

--- essh v3's fs.file(): the path of the script that calls it (nil outside a file).
function M.file()
  local source = (debug.getinfo(2, "S") or {}).source or ""
  if source:sub(1, 1) == "@" then return source:sub(2) end
  return nil, "not called from a file"
end

-- essh v3 wrote modes as decimal numbers spelling octal digits: 755 means 0755.
local function octal_digits(mode)
  local digits = ("%d"):format(mode)
  if not digits:match("^[0-7]+$") then error(("bad mode %s: octal digits expected (as 755)"):format(digits), 3) end
  return tonumber(digits, 8)
end

--- mkdir(path [, options]) or essh v3's mkdir(path, mode, recursive).
function M.mkdir(path, options, recursive)
  if type(options) == "number" or (options == nil and recursive ~= nil) then
    options = { mode = options and octal_digits(options) or nil, parents = recursive and true or nil }
  end
  return native.mkdir(path, options)
end

--- write(path, data [, options]) or essh v3's write(path, data, mode).
function M.write(path, data, options)
  if type(options) == "number" then options = { mode = octal_digits(options) } end
  return native.write(path, data, options)
end

--- remove(path [, options]) or essh v3's remove(path, recursive).
function M.remove(path, options)
  if type(options) == "boolean" then options = { recursive = options } end
  return native.remove(path, options)
end

--- glob(pattern) (the sorted paths) or essh v3's glob(pattern, fn): fn gets {path, realpath}
--- for each match; true, or nil and the error fn raised.
function M.glob(pattern, fn)
  local paths = native.glob(pattern)
  if fn == nil then return paths end
  for _, path in ipairs(paths) do
    local ok, err = pcall(fn, { path = path, realpath = native.abspath(path) })
    if not ok then return nil, tostring(err) end
  end
  return true
end

return M
