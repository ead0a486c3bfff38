-- make bench-db: the db module beside LuaSQL (Debian's lua-sql-mysql, -postgres, -sqlite3) in
-- the same run, on Lua 5.4, against MariaDB and PostgreSQL servers it starts and a SQLite
-- file both open: rows per second of a 100,000-row select (read to the last row) and of 10,000 inserts
-- in one transaction (bound parameters for essh, as one exec_many and as a tx:exec per row;
-- LuaSQL has no parameters, so its statements are escaped and formatted, as LuaSQL code does).
-- Best of BENCH_RUNS (default 3), the sides of each figure run in turn.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local databases = require "support.databases"
local db = require "essh.db"

local RUNS = tonumber(os.getenv("BENCH_RUNS") or "3")
local ROWS, INSERTS = 100000, 10000

local best_of_each = require("timing").best_of_each
local row_selects = require "row_selects"

local servers = { mysql = databases.mariadb(), postgres = databases.postgres() }

local SQLITE = os.tmpname()

local function essh_conn(driver)
  if driver == "sqlite" then return assert(db.connect("sqlite", "sqlite:" .. SQLITE)) end
  return assert(db.connect(driver, servers[driver].url))
end

local function luasql_conn(driver)
  if driver == "sqlite" then return assert(require("luasql.sqlite3").sqlite3():connect(SQLITE)) end
  local s = servers[driver]
  local env = require("luasql." .. driver)[driver]()
  return assert(env:connect(s.database, s.user, s.password, "127.0.0.1", s.port))
end

local function prepare(conn, execute)
  execute(conn, "DROP TABLE IF EXISTS bench")
  execute(conn, "CREATE TABLE bench (id INTEGER PRIMARY KEY, name VARCHAR(64), score DOUBLE PRECISION)")
end

print(("best of %d runs, Lua 5.4; MariaDB and PostgreSQL on loopback, a SQLite file"):format(RUNS))
for _, driver in ipairs { "mysql", "postgres", "sqlite" } do
  local e, l = essh_conn(driver), luasql_conn(driver)
  local function e_exec(c, sql, ...) return assert(c:exec(sql, ...)) end
  local function l_exec(c, sql) return assert(c:execute(sql)) end
  -- The select's table, filled once by essh.
  prepare(e, e_exec)
  assert(e:transaction(function(tx)
    for i = 1, ROWS do assert(tx:exec("INSERT INTO bench VALUES (?, ?, ?)", i, "name-" .. i, i / 7)) end
  end))
  local select_sql = "SELECT id, name, score FROM bench"
  local essh_select, luasql_select, luasql_fresh_select = best_of_each {
    function() row_selects.essh(e, select_sql, ROWS) end,
    function() row_selects.luasql(l, select_sql, ROWS) end,
    -- LuaSQL handing out a fresh table per row, as essh's rows do (reported beside the ratio).
    function()
      local cur = assert(l:execute(select_sql))
      local n = 0
      while cur:fetch({}, "a") do n = n + 1 end
      cur:close()
      assert(n == ROWS)
    end,
  }
  local essh_insert, luasql_insert = best_of_each { function()
    prepare(e, e_exec)
    assert(e:transaction(function(tx)
      for i = 1, INSERTS do assert(tx:exec("INSERT INTO bench VALUES (?, ?, ?)", i, "it's " .. i, i / 3)) end
    end))
  end, function()
    prepare(l, l_exec)
    l:setautocommit(false)
    for i = 1, INSERTS do
      l_exec(l, ("INSERT INTO bench VALUES (%d, '%s', %.17g)"):format(i, l:escape("it's " .. i), i / 3))
    end
    l:commit()
    l:setautocommit(true)
  end }
  local essh_batch, luasql_batch = best_of_each { function()
    prepare(e, e_exec)
    local rows = {}
    for i = 1, INSERTS do rows[i] = { i, "it's " .. i, i / 3 } end
    assert(e:exec_many("INSERT INTO bench VALUES (?, ?, ?)", rows))
  end,
  -- LuaSQL's own way to a batch: multi-row INSERT statements of 1,000 escaped rows each.
  function()
    prepare(l, l_exec)
    l:setautocommit(false)
    for first = 1, INSERTS, 1000 do
      local tuples = {}
      for i = first, math.min(first + 999, INSERTS) do
        tuples[#tuples + 1] = ("(%d, '%s', %.17g)"):format(i, l:escape("it's " .. i), i / 3)
      end
      l_exec(l, "INSERT INTO bench VALUES " .. table.concat(tuples, ", "))
    end
    l:commit()
    l:setautocommit(true)
  end }
  print(("%-9s select %7d rows/s essh %9.0f LuaSQL %9.0f  %.2fx (LuaSQL, a table per row: %9.0f)"):format(driver, ROWS,
    ROWS / essh_select, ROWS / luasql_select, luasql_select / essh_select, ROWS / luasql_fresh_select))
  print(("%-9s insert %7d rows/s a row at a time: essh tx:exec %8.0f LuaSQL %8.0f  %.2fx"
    .. " | batches: essh exec_many %8.0f LuaSQL 1,000-row INSERTs %8.0f  %.2fx")
    :format(driver, INSERTS, INSERTS / essh_insert, INSERTS / luasql_insert, luasql_insert / essh_insert,
      INSERTS / essh_batch, INSERTS / luasql_batch, luasql_batch / essh_batch))
  e:close()
  l:close()
end
for _, s in pairs(servers) do s.stop() end
os.remove(SQLITE)
