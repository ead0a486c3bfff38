-- make bench-db-pairs: row-at-a-time inserts, essh's tx:exec against LuaSQL's formatted INSERT,
-- timed as interleaved pairs rather than best of N: each pair runs 3,000 inserts in one
-- transaction on each side (essh first in odd pairs, LuaSQL first in even ones), and the figure
-- is the median of the pairs' ratios, which a machine whose speed drifts over minutes moves
-- far less than a ratio of two best-of-N taken minutes apart. PAIRS pairs (default 16) on
-- MariaDB and PostgreSQL, which it starts on loopback; Lua 5.4.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local databases = require "support.databases"
local db = require "essh.db"
local clock = require("timing").clock

local row_inserts = require "row_inserts"

local PAIRS = tonumber(os.getenv("PAIRS") or "16")
local INSERTS = 3000

-- Rows per second of `side`'s inserts (row_inserts.essh or .luasql) on `conn`.
local function rate(side, conn)
  local t = clock()
  side(conn, INSERTS)
  return INSERTS / (clock() - t)
end

local function median(list)
  local sorted = { table.unpack(list) }
  table.sort(sorted)
  return sorted[(#sorted + 1) // 2]
end

print(("row-at-a-time inserts, %d pairs of %d in one transaction, Lua 5.4; medians"):format(PAIRS, INSERTS))
for _, driver in ipairs { "mysql", "postgres" } do
  local s = driver == "mysql" and databases.mariadb() or databases.postgres()
  local e = assert(db.connect(driver, s.url))
  local l = assert(require("luasql." .. driver)[driver]():connect(s.database, s.user, s.password, "127.0.0.1", s.port))
  local function essh() return rate(row_inserts.essh, e) end
  local function luasql() return rate(row_inserts.luasql, l) end
  local ours, theirs, ratios = {}, {}, {}
  for pair = 1, PAIRS do
    local a, b
    if pair % 2 == 1 then
      a = essh()
      b = luasql()
    else
      b = luasql()
      a = essh()
    end
    ours[pair], theirs[pair], ratios[pair] = a, b, a / b
  end
  table.sort(ratios)
  print(("%-8s essh %6.0f rows/s  LuaSQL %6.0f rows/s  ratio %.2fx (pairs %.2f-%.2f)")
    :format(driver, median(ours), median(theirs), median(ratios), ratios[1], ratios[#ratios]))
  e:close()
  l:close()
  s.stop()
end
