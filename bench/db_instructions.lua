-- make bench-db-instructions: the instructions the client executes per MariaDB insert, essh's
-- tx:exec against LuaSQL's formatted INSERT, counted by valgrind (callgrind) rather than timed:
-- a figure that does not move with the machine's load. Each side runs 1,000 and 3,000 inserts
-- in one transaction in a child interpreter; the difference over 2,000 is the cost of one, with
-- startup and connection left out. Needs valgrind.
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath

-- A child: `lua5.4 bench/db_instructions.lua essh|luasql N`, the server in the environment.
local function child(side, n)
  local host, port = "127.0.0.1", tonumber(os.getenv("DB_PORT"))
  local user, password, database = os.getenv("DB_USER"), os.getenv("DB_PASSWORD"), os.getenv("DB_NAME")
  if side == "essh" then
    local db = require "essh.db"
    local url = ("mysql://%s:%s@%s:%d/%s"):format(user, password, host, port, database)
    local conn = assert(db.connect("mysql", url))
    assert(conn:exec("DROP TABLE IF EXISTS bench"))
    assert(conn:exec("CREATE TABLE bench (id INTEGER PRIMARY KEY, name VARCHAR(64), score DOUBLE PRECISION)"))
    assert(conn:transaction(function(tx)
      for i = 1, n do assert(tx:exec("INSERT INTO bench VALUES (?, ?, ?)", i, "it's " .. i, i / 3)) end
    end))
  else
    local conn = assert(require("luasql.mysql").mysql():connect(database, user, password, host, port))
    assert(conn:execute("DROP TABLE IF EXISTS bench"))
    assert(conn:execute("CREATE TABLE bench (id INTEGER PRIMARY KEY, name VARCHAR(64), score DOUBLE PRECISION)"))
    conn:setautocommit(false)
    for i = 1, n do
      assert(conn:execute(("INSERT INTO bench VALUES (%d, '%s', %.17g)"):format(i, conn:escape("it's " .. i), i / 3)))
    end
    conn:commit()
  end
end

if arg[1] then return child(arg[1], tonumber(arg[2])) end

if not os.execute("command -v valgrind >/dev/null") then error("bench-db-instructions needs valgrind") end
local server = require("support.databases").mariadb()

-- The instructions a child of `side` executes for `n` inserts.
local function instructions(side, n)
  local command = ("DB_PORT=%d DB_USER=%s DB_PASSWORD=%s DB_NAME=%s valgrind --tool=callgrind"
    .. " --callgrind-out-file=/dev/null lua5.4 bench/db_instructions.lua %s %d 2>&1 >/dev/null")
    :format(server.port, server.user, server.password, server.database, side, n)
  local out = io.popen(command):read("a")
  local collected = out:match("Collected : (%d+)")
  if not collected then error("valgrind counted nothing:\n" .. out) end
  return tonumber(collected)
end

print("MariaDB inserts in one transaction, instructions per statement (valgrind --tool=callgrind, Lua 5.4)")
local per = {}
for _, side in ipairs { "essh", "luasql" } do
  per[side] = (instructions(side, 3000) - instructions(side, 1000)) / 2000
  print(("%-7s %8.0f"):format(side, per[side]))
end
print(("essh / LuaSQL: %.2f"):format(per.essh / per.luasql))
server.stop()
