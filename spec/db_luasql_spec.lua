-- db.luasql against LuaSQL itself (Debian's lua-sql-mysql, -postgres, -sqlite3): one program
-- written for LuaSQL runs on both against the same MariaDB, PostgreSQL and SQLite, and must see
-- the same things. Lua 5.4 in CI (5.1 and LuaJIT pass it too: ESSH_HEAVY_SPECS=1).
local databases = require "support.databases"
local fs = require "essh.fs"
local db = require "essh.db"

local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"
local unpack = table.unpack or unpack

-- A program as LuaSQL code is written: env:connect, execute, escape, fetch in each mode,
-- getcolnames, numrows, setautocommit, commit and rollback. Returns what it saw, a line a step
-- (counts as integers: LuaSQL's PostgreSQL and SQLite drivers give floats).
local function program(env, connect_args, driver)
  local seen = {}
  local function shown(v)
    if type(v) == "number" and v == math.floor(v) then return ("%d"):format(v) end
    return tostring(v)
  end
  local function say(...)
    local t = {}
    for i = 1, select("#", ...) do t[i] = shown((select(i, ...))) end
    seen[#seen + 1] = table.concat(t, " | ")
  end
  local conn = assert(env:connect(unpack(connect_args)))
  conn:execute("DROP TABLE IF EXISTS people")
  say("create", conn:execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name VARCHAR(64), note VARCHAR(64))"))
  local tricky = { "plain", "it's", [[back\slash]], [[both\'s]], 'quote"d', "new\nline", "100%", "ünïcode", "tab\tcr\r" }
  for i, s in ipairs(tricky) do
    say("insert", i, conn:execute(("INSERT INTO people VALUES (%d, '%s', NULL)"):format(i, conn:escape(s))))
  end
  say("update", conn:execute("UPDATE people SET note = 'x' WHERE id > 6"))
  local cur = assert(conn:execute("  -- the people\n/* all */ SELECT id, name, note FROM people ORDER BY id"))
  say("colnames", table.concat(cur:getcolnames(), ","))
  if driver ~= "sqlite3" then say("numrows", cur:numrows()) end
  say("fetch", cur:fetch())
  local row = cur:fetch({}, "a")
  say("fetch a", row.id, row.name, row.note, row[1])
  row = cur:fetch({}, "n")
  say("fetch n", row[1], row[2], row[3], row.id)
  row = cur:fetch({}, "an")
  say("fetch an", row[1], row.name)
  while true do
    local r = cur:fetch({}, "a")
    if not r then break end
    say("row", r.id, r.name == tricky[tonumber(r.id)], r.note)
  end
  say("cursor closed by its end", cur:close())
  conn:setautocommit(false)
  conn:execute("INSERT INTO people VALUES (100, 'rolled back', NULL)")
  say("rollback", conn:rollback())
  conn:execute("INSERT INTO people VALUES (101, 'committed', NULL)")
  say("commit", conn:commit())
  conn:execute("INSERT INTO people VALUES (102, 'committed by autocommit on', NULL)")
  conn:setautocommit(true)
  cur = assert(conn:execute("SELECT id FROM people WHERE id >= 100 ORDER BY id"))
  say("after the transactions", cur:fetch(), cur:fetch())
  cur:close()
  say("a bad statement", conn:execute("SELEC nothing") == nil)
  say("close", conn:close())
  say("env close", env:close())
  return seen
end

describe("db.luasql", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the LuaSQL comparison runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local servers, dir = {}, nil

  setup(function()
    dir = assert(fs.tempdir())
    servers.mysql = databases.mariadb()
    servers.postgres = databases.postgres()
  end)

  teardown(function()
    for _, s in pairs(servers) do s.stop() end
    if dir then os.execute("rm -rf " .. dir) end
  end)

  for _, driver in ipairs { "mysql", "postgres", "sqlite3" } do
    it("runs a LuaSQL program as LuaSQL's " .. driver .. " driver does", function()
      local function args(name)
        if driver == "sqlite3" then return { fs.join(dir, name .. ".db") } end
        local s = servers[driver]
        return { s.database, s.user, s.password, "127.0.0.1", s.port }
      end
      local luasql = require("luasql." .. driver)
      local theirs = program(luasql[driver](), args("luasql"), driver)
      local ours = program(db.luasql[driver](), args("essh"), driver)
      assert.same(theirs, ours)
      assert.is_true(#ours >= 28, "the whole program ran")
    end)
  end
end)
