-- make bench-startup: what `require "essh"` costs a program, native modules included: the best
-- of 20 runs of `<lua> -e 'require "essh"'` minus the best of 20 of `<lua> -e ''`.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local clock = require("essh_native").runtime.monotonic

local function best(command)
  local b
  for _ = 1, 20 do
    local t = clock()
    assert(os.execute(command .. " >/dev/null 2>&1"))
    t = clock() - t
    if not b or t < b then b = t end
  end
  return b
end

for _, lua in ipairs { "lua5.4", "luajit", "lua5.1" } do
  local build = lua == "luajit" and "luajit" or lua:gsub("%.", ""):gsub("lua", "lua")
  local env = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/%s/?.so;;' "):format(build)
  local base = best(env .. lua .. " -e ''")
  local with = best(env .. lua .. " -e 'require \"essh\"'")
  print(("%-7s require \"essh\": %.1f ms (interpreter start %.1f ms)"):format(lua, (with - base) * 1000, base * 1000))
end
