-- make bench-storage: the storage module's get and set per second on its SQLite store, beside
-- the same work written with LuaSQL (Debian's lua-sql-sqlite3) on a file with the same pragmas
-- (WAL, synchronous = FULL) and the same statements: a set is one transaction that upserts the
-- key and appends its history line (values JSON-encoded by each side), a get one select by key
-- that decodes the JSON. Best of BENCH_RUNS (default 3), Lua 5.4.
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local storage = require "essh.storage"
local json = require "essh.json"

local RUNS = tonumber(os.getenv("BENCH_RUNS") or "3")
local SETS, GETS = 2000, 20000

local best = require("timing").best

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local store = assert(storage.open("sqlite:" .. dir .. "/essh.db"))

local conn = assert(require("luasql.sqlite3").sqlite3():connect(dir .. "/luasql.db"))
for _, sql in ipairs {
  "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
  "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL, expires REAL,"
    .. " updated REAL NOT NULL, by_whom TEXT NOT NULL)",
  "CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT, at REAL NOT NULL,"
    .. " by_whom TEXT NOT NULL)",
  "CREATE INDEX history_key ON history (key, id)",
} do
  local cur = assert(conn:execute(sql))
  if type(cur) == "userdata" then cur:close() end
end
local who = conn:escape(json.encode { user = "bench", machine = "here", pid = 1 })
-- The database's clock, by which essh's values expire.
local CLOCK = "((julianday('now') - 2440587.5) * 86400.0)"

local function luasql_set(key, value)
  local k, v, t = conn:escape(key), conn:escape(json.encode(value)), os.time()
  assert(conn:execute("BEGIN"))
  assert(conn:execute(("INSERT INTO kv (key, value, version, expires, updated, by_whom) VALUES ('%s', '%s', 1, %s + NULL,"
    .. " %d, '%s') ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = kv.version + 1,"
    .. " expires = excluded.expires, updated = excluded.updated, by_whom = excluded.by_whom"):format(k, v, CLOCK, t, who)))
  assert(conn:execute(("INSERT INTO history (key, value, at, by_whom) VALUES ('%s', '%s', %d, '%s')")
    :format(k, v, t, who)))
  assert(conn:execute("COMMIT"))
end

local function luasql_get(key)
  local cur = assert(conn:execute(("SELECT value FROM kv WHERE key = '%s' AND (expires IS NULL OR expires > %s)")
    :format(conn:escape(key), CLOCK)))
  local row = cur:fetch({}, "a")
  cur:close()
  return row and json.decode(row.value)
end

local value = { version = "v42", hosts = { "web1", "web2" }, ok = true }
local essh_set = best(function()
  for i = 1, SETS do assert(store:set("release/" .. (i % 100), value)) end
end)
local luasql_set_time = best(function()
  for i = 1, SETS do luasql_set("release/" .. (i % 100), value) end
end)
local essh_get = best(function()
  for i = 1, GETS do assert(store:get("release/" .. (i % 100))) end
end)
local luasql_get_time = best(function()
  for i = 1, GETS do assert(luasql_get("release/" .. (i % 100))) end
end)

print(("best of %d runs, Lua 5.4, SQLite files (WAL, synchronous = FULL)"):format(RUNS))
print(("set  %6d per second essh %8.0f  LuaSQL %8.0f  %.2fx"):format(SETS, SETS / essh_set, SETS / luasql_set_time,
  luasql_set_time / essh_set))
print(("get  %6d per second essh %8.0f  LuaSQL %8.0f  %.2fx"):format(GETS, GETS / essh_get, GETS / luasql_get_time,
  luasql_get_time / essh_get))
store:close()
conn:close()
os.execute("rm -rf " .. dir)
