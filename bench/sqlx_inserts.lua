-- make bench-db-sqlx: where row-at-a-time inserts spend their time. 10,000 bound inserts in one
-- transaction, one statement at a time, on MariaDB and PostgreSQL that it starts: essh's
-- tx:exec, LuaSQL's formatted INSERT, and sqlx alone in Rust (bench/sqlx_inserts.rs) on a
-- multi-thread runtime and on a current-thread one (essh's shape); rows per second and the
-- whole process's CPU per statement. Best of BENCH_RUNS (default 3) by rows per second.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local databases = require "support.databases"
local db = require "essh.db"
local clock = require("timing").clock
local row_inserts = require "row_inserts"

local RUNS = tonumber(os.getenv("BENCH_RUNS") or "3")
local INSERTS = 10000
local SQLX = os.getenv("SQLX_INSERTS") or "target/release/examples/sqlx_inserts"

-- Rows per second and CPU microseconds per statement of fn, the best of RUNS.
local function measure(fn)
  local best_rate, its_cpu = 0, 0
  for _ = 1, RUNS do
    local t, c = clock(), os.clock()
    fn()
    local rate = INSERTS / (clock() - t)
    if rate > best_rate then best_rate, its_cpu = rate, (os.clock() - c) / INSERTS * 1e6 end
  end
  return best_rate, its_cpu
end

local function sqlx(driver, url, shape)
  local best_rate, its_cpu = 0, 0
  for _ = 1, RUNS do
    local p = assert(io.popen(("%s %s '%s' %s"):format(SQLX, driver, url, shape)))
    local out = p:read("a")
    assert(p:close(), "sqlx_inserts failed: " .. out)
    local rate, cpu = out:match("^(%S+) (%S+)")
    if tonumber(rate) > best_rate then best_rate, its_cpu = tonumber(rate), tonumber(cpu) end
  end
  return best_rate, its_cpu
end

print(("best of %d runs, Lua 5.4; rows/s (process CPU per statement); ratios against LuaSQL"):format(RUNS))
for _, driver in ipairs { "mysql", "postgres" } do
  local s = driver == "mysql" and databases.mariadb() or databases.postgres()
  local e = assert(db.connect(driver, s.url))
  local l = assert(require("luasql." .. driver)[driver]():connect(s.database, s.user, s.password, "127.0.0.1", s.port))
  local essh = table.pack(measure(function() row_inserts.essh(e, INSERTS) end))
  local luasql = table.pack(measure(function() row_inserts.luasql(l, INSERTS) end))
  local multi = table.pack(sqlx(driver, s.url, "multi"))
  local current = table.pack(sqlx(driver, s.url, "current"))
  local function cell(r) return ("%6.0f (%3.0f us) %.2fx"):format(r[1], r[2], r[1] / luasql[1]) end
  print(("%-8s LuaSQL %6.0f (%3.0f us) | essh tx:exec %s | sqlx alone, multi-thread %s | sqlx alone, current-thread %s")
    :format(driver, luasql[1], luasql[2], cell(essh), cell(multi), cell(current)))
  e:close()
  l:close()
  s.stop()
end
