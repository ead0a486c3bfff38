-- Runs the busted specs under the interpreter that runs this script, against this checkout:
-- the Lua files in lua/ and the native module built for this interpreter in build/<name>/.
-- `make test` builds each interpreter's module first; `luarocks test` runs this file.
local name = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/" .. name .. "/?.so;" .. package.cpath
require "busted.runner" { standalone = false }
