-- make bench-db-instructions: the instructions the client executes per insert on MariaDB and
-- PostgreSQL, essh's tx:exec against LuaSQL's formatted INSERT (bench/row_inserts.lua), counted
-- by valgrind (callgrind) rather than timed: a figure that does not move with the machine's
-- load. Each side runs 1,000 and 3,000 inserts in one transaction in a child interpreter; the
-- difference over 2,000 is the cost of one, with startup and connection left out. Needs valgrind.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath

-- A child: `lua5.4 bench/db_instructions.lua essh|luasql N`, the server in the environment.
local function child(side, n)
  local driver, host, port = os.getenv("DB_DRIVER"), "127.0.0.1", tonumber(os.getenv("DB_PORT"))
  local user, password, database = os.getenv("DB_USER"), os.getenv("DB_PASSWORD"), os.getenv("DB_NAME")
  local conn
  if side == "essh" then
    local url = ("%s://%s:%s@%s:%d/%s"):format(driver, user, password, host, port, database)
    conn = assert(require("essh.db").connect(driver, url))
  else
    conn = assert(require("luasql." .. driver)[driver]():connect(database, user, password, host, port))
  end
  require("row_inserts")[side](conn, n)
end

if arg[1] then return child(arg[1], tonumber(arg[2])) end

if not os.execute("command -v valgrind >/dev/null") then error("bench-db-instructions needs valgrind") end
local databases = require "support.databases"

-- The instructions a child of `side` executes for `n` inserts on `server`.
local function instructions(server, side, n)
  local command = ("DB_DRIVER=%s DB_PORT=%d DB_USER=%s DB_PASSWORD=%s DB_NAME=%s valgrind --tool=callgrind"
    .. " --callgrind-out-file=/dev/null lua5.4 bench/db_instructions.lua %s %d 2>&1 >/dev/null")
    :format(server.driver, server.port, server.user, server.password, server.database, side, n)
  local out = io.popen(command):read("a")
  local collected = out:match("Collected : (%d+)")
  if not collected then error("valgrind counted nothing:\n" .. out) end
  return tonumber(collected)
end

print("inserts in one transaction, instructions per statement (valgrind --tool=callgrind, Lua 5.4)")
for _, database in ipairs { "mariadb", "postgres" } do
  local server = databases[database]()
  server.driver = database == "mariadb" and "mysql" or "postgres"
  local per = {}
  for _, side in ipairs { "essh", "luasql" } do
    per[side] = (instructions(server, side, 3000) - instructions(server, side, 1000)) / 2000
  end
  print(("%-9s essh %8.0f  LuaSQL %8.0f  essh / LuaSQL %.2f"):format(database, per.essh, per.luasql, per.essh / per.luasql))
  server.stop()
end
