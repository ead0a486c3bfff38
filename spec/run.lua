-- Runs the busted specs under the interpreter that runs this script, against this checkout:
-- the Lua files in lua/ and the native module built for this interpreter in build/<name>/.
-- `make test` builds each interpreter's module first; `luarocks test` runs this file.
local name = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/" .. name .. "/?.so;" .. package.cpath
-- The runs of the specs stay out of the run history of whoever runs them (history_spec turns it on).
if not os.getenv("ESSH_HISTORY") then require("essh_native").env.set("ESSH_HISTORY", "off") end
require "busted.runner" { standalone = false }
