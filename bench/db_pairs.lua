-- make bench-db-pairs: the two figures of bench/db.lua that sit nearest LuaSQL's, timed as
-- interleaved pairs rather than best of N: row-at-a-time inserts (essh's tx:exec against
-- LuaSQL's formatted INSERT, 3,000 in one transaction a side) and the 100,000-row select (essh's
-- rows loop against LuaSQL's fetch into one reused table). Each pair runs both sides, essh
-- first in odd pairs and LuaSQL first in even ones, and the figure is the median of the pairs'
-- ratios, which a machine whose speed drifts over minutes moves far less than a ratio of two
-- best-of-N taken minutes apart. PAIRS pairs (default 16) of each on MariaDB and PostgreSQL,
-- which it starts on loopback; Lua 5.4.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local databases = require "support.databases"
local db = require "essh.db"
local clock = require("timing").clock

local row_inserts = require "row_inserts"
local row_selects = require "row_selects"

local PAIRS = tonumber(os.getenv("PAIRS") or "16")
local INSERTS = 3000
local ROWS = 100000
local SELECT = "SELECT id, name, score FROM bench"

local function median(list)
  local sorted = { table.unpack(list) }
  table.sort(sorted)
  return sorted[(#sorted + 1) // 2]
end

-- Rows per second of `run()`, which handles `count` rows.
local function rate(run, count)
  local t = clock()
  run()
  return count / (clock() - t)
end

-- The medians of PAIRS pairs of essh() and luasql() (rows per second each).
local function pairs_of(essh, luasql)
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
  return median(ours), median(theirs), median(ratios), ratios[1], ratios[#ratios]
end

local function report(driver, what, ...)
  print(("%-8s %-8s essh %8.0f rows/s  LuaSQL %8.0f rows/s  ratio %.2fx (pairs %.2f-%.2f)"):format(driver, what, ...))
end

print(("%d pairs, Lua 5.4; medians: row-at-a-time inserts (%d in one transaction), a %d-row select")
  :format(PAIRS, INSERTS, ROWS))
for _, driver in ipairs { "mysql", "postgres" } do
  local s = driver == "mysql" and databases.mariadb() or databases.postgres()
  local e = assert(db.connect(driver, s.url))
  local l = assert(require("luasql." .. driver)[driver]():connect(s.database, s.user, s.password, "127.0.0.1", s.port))
  report(driver, "inserts", pairs_of(function() return rate(function() row_inserts.essh(e, INSERTS) end, INSERTS) end,
    function() return rate(function() row_inserts.luasql(l, INSERTS) end, INSERTS) end))

  local rows = {}
  for i = 1, ROWS do rows[i] = { i, "name-" .. i, i / 7 } end
  row_inserts.prepare(function(sql) assert(e:exec(sql)) end)
  assert(e:exec_many("INSERT INTO bench VALUES (?, ?, ?)", rows))
  report(driver, "select", pairs_of(function() return rate(function() row_selects.essh(e, SELECT, ROWS) end, ROWS) end,
    function() return rate(function() row_selects.luasql(l, SELECT, ROWS) end, ROWS) end))
  e:close()
  l:close()
  s.stop()
end
