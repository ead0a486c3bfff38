--- The interpreter running the specs, to start helper scripts under the same Lua.
local M = {}

local i = 0
while arg and arg[i - 1] do i = i - 1 end
M.interpreter = arg and arg[i] or "lua"

local checkout = assert(io.popen("pwd")):read("*l")
M.checkout = checkout
local name = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
M.path = checkout .. "/lua/?.lua;" .. checkout .. "/lua/?/init.lua;" .. checkout .. "/spec/?.lua"
M.cpath = checkout .. "/build/" .. name .. "/?.so"

--- A shell command that runs the Lua source `code` under this interpreter, with this checkout's
--- modules, writing the script to a temporary file.
function M.script(code)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("package.path = '", M.path, ";' .. package.path\n")
  f:write("package.cpath = '", M.cpath, ";' .. package.cpath\n")
  f:write(code)
  f:close()
  return M.interpreter .. " " .. path, path
end

--- Runs `code` in a child interpreter (in the directory `cwd` when given); returns its output
--- (stdout and stderr) and exit status.
function M.run(code, cwd)
  local command, path = M.script(code)
  if cwd then command = "cd '" .. cwd .. "' && " .. command end
  local out, status = require("support.shell").run(command)
  os.remove(path)
  return out, status
end

return M
