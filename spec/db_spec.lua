-- The db module against real servers the spec starts (spec/support/databases.lua): MariaDB and
-- PostgreSQL on loopback ports, and SQLite in memory and on disk. Lua 5.1, 5.4 and LuaJIT.
local databases = require "support.databases"
local sshd = require "support.sshd"
local shell = require "support.shell"
local lua = require "support.lua"
local fs = require "essh.fs"
local db = require "essh.db"
local json = require "essh.json"
local runtime = require "essh.runtime"

-- CI runs the servers' specs on Lua 5.4 (5.1 and LuaJIT pass them too: ESSH_HEAVY_SPECS=1).
local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"
local integers = math.type ~= nil
local unpack = table.unpack or unpack

describe("db", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the database servers' spec runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local servers = {}
  local dir

  setup(function()
    dir = assert(fs.tempdir())
    if databases.available("postgres") then servers.postgres = databases.postgres() end
    if databases.available("mariadb") then servers.mysql = databases.mariadb() end
  end)

  teardown(function()
    for _, s in pairs(servers) do s.stop() end
    if dir then shell.run("rm -rf " .. dir) end
  end)

  local function open(driver, options)
    if driver == "sqlite" then return assert(db.connect("sqlite", "sqlite::memory:", options)) end
    local server = servers[driver]
    assert(server, driver .. " is not installed: run make deps")
    return assert(db.connect(driver, server.url, options))
  end

  -- Per driver: the DDL of the types table.
  local DDL = {
    mysql = [[CREATE TABLE types (id INT PRIMARY KEY, big BIGINT, ubig BIGINT UNSIGNED, amount DECIMAL(30,4), f DOUBLE,
      flag BOOLEAN, day DATE, at DATETIME(3), b VARBINARY(64), doc JSON, t TEXT, empty INT)]],
    postgres = [[CREATE TABLE types (id INT PRIMARY KEY, big BIGINT, ubig NUMERIC(20), amount NUMERIC(30,4), f FLOAT8,
      flag BOOLEAN, day DATE, at TIMESTAMP(3), b BYTEA, doc JSONB, t TEXT, empty INT)]],
    sqlite = [[CREATE TABLE types (id INTEGER PRIMARY KEY, big INTEGER, ubig TEXT, amount TEXT, f REAL, flag BOOLEAN,
      day TEXT, at TEXT, b BLOB, doc TEXT, t TEXT, empty INTEGER)]],
  }

  -- Per driver: the insert (PostgreSQL types its parameters, so the SQL casts the strings).
  local INSERT = {
    mysql = "INSERT INTO types VALUES (?, 9007199254740993, 18446744073709551615, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    postgres = "INSERT INTO types VALUES (?, 9007199254740993, 18446744073709551615, ?::numeric, ?, ?, ?::date,"
      .. " ?::timestamp, ?, ?::jsonb, ?, ?)",
    sqlite = "INSERT INTO types VALUES (?, 9007199254740993, '18446744073709551615', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  }

  for _, driver in ipairs { "sqlite", "mysql", "postgres" } do
    describe(driver, function()
      it("round-trips NULL, big integers, decimals, dates, binary, JSON and UTF-8 through bound parameters", function()
        local conn = open(driver)
        assert(conn:exec(DDL[driver]))
        local binary = "\0\1\255\254bytes"
        -- 2^53 + 1 is no Lua 5.1 number: it goes in as SQL, and comes back as a string there.
        local insert = INSERT[driver]
        local r = assert(conn:exec(insert, 1, "12345678901234567890.1234", 2.5, true, "2026-12-01", "2026-12-01 10:20:30.125",
          binary, '{"a": [1, 2]}', "héllo ✓ 日本", db.null))
        assert.equal(1, r.affected)
        local rows = assert(conn:query("SELECT * FROM types WHERE id = ?", 1))
        assert.same({ "id", "big", "ubig", "amount", "f", "flag", "day", "at", "b", "doc", "t", "empty" }, rows.columns)
        local row = rows[1]
        assert.equal(1, row.id)
        if integers then
          assert.equal(9007199254740993, row.big)
          assert.equal("integer", math.type(row.big))
        else
          assert.equal("9007199254740993", row.big)
        end
        assert.equal("18446744073709551615", tostring(row.ubig))
        assert.equal("12345678901234567890.1234", row.amount)
        assert.equal(2.5, row.f)
        if driver == "sqlite" then assert.equal(1, row.flag) else assert.equal(true, row.flag) end
        assert.equal("2026-12-01", row.day)
        assert.matches("^2026%-12%-01[T ]10:20:30%.125$", row.at)
        assert.equal(binary, row.b)
        assert.same({ a = { 1, 2 } }, json.decode(row.doc))
        assert.equal("héllo ✓ 日本", row.t)
        assert.equal(db.null, row.empty)
        assert.equal(json.null, db.null)
        if driver ~= "sqlite" then
          -- The same column decoded on request, whatever the server calls its type.
          local decoding = open(driver, { json = { "doc" } })
          assert.same({ 1, 2 }, assert(decoding:query("SELECT doc FROM types WHERE id = ?", 1))[1].doc.a)
          for each in decoding:rows("SELECT doc FROM types") do assert.same({ 1, 2 }, each.doc.a) end
          decoding:close()
        end
        conn:close()
      end)

      it("binds parameters that hold quotes and question marks, never interpolating them", function()
        local conn = open(driver)
        assert(conn:exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"))
        local nasty = [[it's a '?' "quote"; DROP TABLE notes; -- ?]]
        assert(conn:exec("INSERT INTO notes (id, body) VALUES (?, ?)", 1, nasty))
        local rows = assert(conn:query("SELECT body, '?' AS mark FROM notes WHERE body = ? AND id = ?", nasty, 1))
        assert.equal(1, #rows)
        assert.equal(nasty, rows[1].body)
        assert.equal("?", rows[1].mark)
        assert.equal(1, #assert(conn:query("SELECT id FROM notes")))
      end)

      -- Each case's SQL is read by essh (counting and numbering its parameters, rewriting a
      -- batch's INSERT) and by the server; both must find the same parameters, by the
      -- driver's own rules for literals, quoted names and comments.
      local LEXICAL = {
        mysql = {
          { [[INSERT INTO lex VALUES (?, 'it\'s ?') # (?)]], { 1 }, "it's ?" },
          { [[INSERT INTO lex VALUES (?, CONCAT("a\"?", 5--?))]], { 2, 1 }, 'a"?6' },
          { [[INSERT INTO lex VALUES (?, CONCAT(/*!50100 'v', ? */ /* ? */, '' -- ?
            ))]], { 3, "x" }, "vx" },
          { [[INSERT INTO `lex` (`id`, `s?`) VALUES (?, ?)]], { 4, "`?`" }, "`?`" },
        },
        postgres = {
          { [[INSERT INTO lex VALUES (?, 'C:\' || ?)]], { 1, "a" }, [[C:\a]] },
          { [[INSERT INTO lex VALUES (?, E'it\'s ?' || /* a /* b */ ? */ ?)]], { 2, "x" }, "it's ?x" },
          { [[INSERT INTO lex VALUES (?, $q$?$q$ || ?)]], { 3, "y" }, "?y" },
          { [[INSERT INTO "lex" ("id", "s?") VALUES (?, ?)]], { 4, "z" }, "z" },
        },
        sqlite = {
          { [[INSERT INTO lex VALUES (?, 'C:\' || ?)]], { 1, "a" }, [[C:\a]] },
          { [[INSERT INTO lex VALUES (?2, ?1)]], { "b", 2 }, "b" },
          { [[INSERT INTO lex ([id], [s?]) VALUES (:id, :s || :s)]], { 3, "c" }, "cc" },
          { [[INSERT INTO lex VALUES (?, '#' || ?) -- ?]], { 4, "d" }, "#d" },
        },
      }

      it("finds the parameters the server finds, by its rules for literals, names and comments", function()
        local conn = open(driver)
        assert(conn:exec(driver == "mysql" and "CREATE TABLE lex (id INT PRIMARY KEY, `s?` TEXT)"
          or 'CREATE TABLE lex (id INTEGER PRIMARY KEY, "s?" TEXT)'))
        for _, case in ipairs(LEXICAL[driver]) do
          local sql, params, want = case[1], case[2], case[3]
          local id = type(params[1]) == "number" and params[1] or params[2]
          -- One statement, then a batch of two rows (a server's INSERT goes as one statement).
          local second = { unpack(params) }
          if type(second[1]) == "number" then second[1] = second[1] + 100 else second[2] = second[2] + 100 end
          assert(conn:exec(sql, unpack(params)))
          assert(conn:exec("DELETE FROM lex WHERE id = ?", id))
          local done = assert(conn:exec_many(sql, { params, second }))
          assert.equal(2, done.affected)
          local rows = assert(conn:query(driver == "mysql" and "SELECT `s?` AS s FROM lex WHERE id IN (?, ?) ORDER BY id"
            or 'SELECT "s?" AS s FROM lex WHERE id IN (?, ?) ORDER BY id', id, id + 100))
          assert.same({ want, want }, { rows[1] and rows[1].s, rows[2] and rows[2].s }, sql)
        end
        if driver == "postgres" then
          -- Statements of their own: `?` numbered around a name that holds `$1`.
          local row = assert(conn:query([[SELECT 'C:\' AS p, ? AS x$1, /* ? /* ? */ */ ? AS y]], "a", "b"))[1]
          assert.same({ [[C:\]], "a", "b" }, { row.p, row["x$1"], row.y })
        end
        conn:close()
      end)

      it("refuses SQL that holds a NUL byte, which a parameter carries", function()
        local conn = open(driver)
        local calls = {
          ["connection:exec"] = function() return conn:exec("SELECT 1\0; SELECT 2") end,
          ["connection:query"] = function() return conn:query("SELECT 1\0") end,
          ["connection:rows"] = function() return conn:rows("SELECT 1\0") end,
          ["connection:exec_many"] = function() return conn:exec_many("SELECT 1\0", { {} }) end,
          ["transaction:exec"] = function()
            local _, err = conn:transaction(function(tx) return tx:exec("SELECT 1\0") end)
            error(err, 0)
          end,
        }
        for name, call in pairs(calls) do
          local ok, err = pcall(call)
          assert.is_false(ok, name)
          assert.matches("bad argument #1 to '" .. name .. "' (SQL without NUL bytes expected, got one at byte 9",
            tostring(err), 1, true)
        end
        if driver ~= "postgres" then -- PostgreSQL's text holds no NUL (bytea does).
          assert.equal("a\0b", assert(conn:query("SELECT ? AS s", "a\0b"))[1].s)
        end
        assert.equal(1, assert(conn:query("SELECT 1 AS one"))[1].one)
        conn:close()
      end)

      it("refuses more or fewer parameters than a statement takes, and reads each call's values as their types", function()
        local conn = open(driver)
        assert(conn:query("SELECT ? AS x, ? AS y", 1, 2))
        for _, args in ipairs { { 1 }, { 1, 2, 3 } } do
          local rows, err = conn:query("SELECT ? AS x, ? AS y", unpack(args))
          assert.is_nil(rows)
          assert.equal("invalid", err.kind)
          assert.matches("the statement takes 2 parameters, " .. #args .. " given", err.message, 1, true)
        end
        -- One text, values of other types from call to call (a statement typed by its first
        -- call's values read a float's bytes as an integer's).
        assert(conn:exec("CREATE TABLE nums (v DOUBLE PRECISION)"))
        assert(conn:exec_many("INSERT INTO nums VALUES (?)", { { 1.5 }, { 2.5 }, { 3 } }))
        for _, case in ipairs { { 2, 2 }, { 2.5, 1 }, { 1, 3 }, { 0.5, 3 }, { 3, 0 } } do
          local rows = assert(conn:query("SELECT count(*) AS n FROM nums WHERE v > ?", case[1]))
          assert.equal(case[2], tonumber(rows[1].n), tostring(case[1]))
        end
        if integers then
          for _, v in ipairs { 1.5, math.maxinteger, math.mininteger, 7 } do
            local rows = assert(conn:query("SELECT ? AS x", v))
            assert.equal(tostring(v), tostring(rows[1].x))
          end
        end
        local a = assert(conn:query("SELECT ? AS x, ? AS y", nil, 2))[1]
        assert.same({ db.null, 2 }, { a.x, tonumber(a.y) })
        conn:close()
      end)

      if driver == "mysql" then
        it("refuses a statement larger than the server's max_allowed_packet before sending it", function()
          local conn = open(driver)
          local fits = ("x"):rep(5 * 1024 * 1024)
          assert.equal(#fits, tonumber(assert(conn:query("SELECT length(?) AS n", fits))[1].n))
          local rows, err = conn:query("SELECT length(?) AS n", fits:rep(4))
          assert.is_nil(rows)
          assert.equal("invalid", err.kind)
          assert.matches("more than the server's max_allowed_packet (16777216)", err.message, 1, true)
          assert.equal(1, assert(conn:query("SELECT 1 AS one"))[1].one)
          conn:close()
        end)
      end

      it("commits a transaction that returns and rolls back one that raises", function()
        local conn = open(driver)
        assert(conn:exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)"))
        local a, b = conn:transaction(function(tx)
          assert(tx:exec("INSERT INTO accounts VALUES (1, 100)"))
          assert(tx:exec("INSERT INTO accounts VALUES (2, 0)"))
          return "done", 2
        end)
        assert.same({ "done", 2 }, { a, b })
        local none, err = conn:transaction(function(tx)
          assert(tx:exec("UPDATE accounts SET balance = balance - 50 WHERE id = 1"))
          error("transfer refused")
        end)
        assert.is_nil(none)
        assert.matches("transfer refused", tostring(err))
        local rows = assert(conn:query("SELECT balance FROM accounts ORDER BY id"))
        assert.equal(100, rows[1].balance)
        assert.equal(0, rows[2].balance)
      end)

      it("names the constraint a statement broke, and tells syntax errors apart", function()
        local conn = open(driver)
        assert(conn:exec("CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(100), CONSTRAINT uq_email UNIQUE (email))"))
        assert(conn:exec("INSERT INTO users VALUES (1, 'a@example.com')"))
        local none, err = conn:exec("INSERT INTO users VALUES (2, ?)", "a@example.com")
        assert.is_nil(none)
        assert.equal("constraint", err.kind)
        if driver ~= "sqlite" then assert.equal("uq_email", err.details.constraint) end
        local bad, serr = conn:query("SELEC 1")
        assert.is_nil(bad)
        assert.equal("syntax", serr.kind)
      end)

      it("inserts a batch in a few statements, all rows or none, and runs other statements once per row", function()
        local conn = open(driver)
        assert(conn:exec(("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(64), note %s)")
          :format(driver == "mysql" and "MEDIUMTEXT" or "TEXT")))
        local rows = {}
        for i = 1, 2500 do
          local note = i % 5 == 0 and db.null or "n" .. i
          rows[i] = i % 7 == 0 and table.pack(i, "nil note", nil) or { i, ("it's %d ?), ("):format(i), note }
        end
        local servers_rewrite = driver ~= "sqlite"
        local done = assert(conn:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)", rows))
        assert.same({ affected = 2500, statements = servers_rewrite and 3 or 2500 }, done)
        local back = assert(conn:query("SELECT id, name, note FROM items ORDER BY id"))
        assert.equal(2500, #back)
        for i, row in ipairs(back) do
          local want = rows[i]
          assert.same({ want[1], want[2], want[3] == nil and db.null or want[3] }, { row.id, row.name, row.note })
        end
        -- Row 1800 breaks the key: nothing of the batch stays, and the error names the rows.
        local again = {}
        for i = 1, 2000 do again[i] = { 10000 + i, "x", "y" } end
        again[1800][1] = 1
        local none, err = conn:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)", again)
        assert.is_nil(none)
        assert.equal("constraint", err.kind)
        assert.equal(servers_rewrite and 1001 or 1800, err.details.row)
        assert.matches(servers_rewrite and "rows 1001%-2000 of the batch" or "row 1800 of the batch", err.message)
        assert.equal(2500, #assert(conn:query("SELECT id FROM items")))
        -- A statement that is not a plain INSERT runs once per row.
        local updates = { { "u1", 1 }, { "u2", 2 }, { "none", 99999 } }
        local updated = assert(conn:exec_many("UPDATE items SET note = ? WHERE id = ?", updates))
        assert.same({ affected = 2, statements = 3 }, updated)
        assert.equal("u2", assert(conn:query("SELECT note FROM items WHERE id = 2"))[1].note)
        if driver == "postgres" then
          -- Numbered parameters, in any order, are numbered again row by row.
          local numbered = assert(conn:exec_many("INSERT INTO items (id, name, note) VALUES ($3, $1, $2)",
            { { "a", "b", 3001 }, { "c", "d", 3002 } }))
          assert.same({ affected = 2, statements = 1 }, numbered)
          local row = assert(conn:query("SELECT name, note FROM items WHERE id = 3002"))[1]
          assert.same({ "c", "d" }, { row.name, row.note })
        end
        if servers_rewrite then
          -- Statements stay under a megabyte of parameters.
          local big = string.rep("z", 600 * 1024)
          local split = assert(conn:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)",
            { { 4001, "b", big }, { 4002, "b", big }, { 4003, "b", "small" } }))
          assert.same({ affected = 3, statements = 2 }, split)
          assert.equal(#big, #assert(conn:query("SELECT note FROM items WHERE id = 4002"))[1].note)
        end
        -- Inside a transaction, the batch goes with it.
        local _, raised = conn:transaction(function(tx)
          assert(tx:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)", { { 5001, "t", "t" }, { 5002, "t", "t" } }))
          error("changed my mind")
        end)
        assert.matches("changed my mind", tostring(raised))
        assert.equal(0, #assert(conn:query("SELECT id FROM items WHERE id > 5000")))
        if servers_rewrite then
          -- Tasks' batches take the server connection in turn (sqlite::memory: is one handle,
          -- refused while in use; db_sqlite_spec runs batches in tasks on a file).
          local function batch_of(from)
            local list = {}
            for i = 1, 1500 do list[i] = { from + i, "task", "t" } end
            return function() return conn:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)", list) end
          end
          local results = runtime.parallel({ batch_of(7000), batch_of(9000) })
          assert.same({ 1500, 1500 }, { results[1][1].affected, results[2][1].affected })
          assert.equal(3000, assert(conn:query("SELECT count(*) AS n FROM items WHERE name = 'task'"))[1].n)
        end
        -- A row of the wrong length stops the batch before anything runs.
        local short, serr = conn:exec_many("INSERT INTO items (id, name, note) VALUES (?, ?, ?)",
          { { 6001, "a", "b" }, { 6002, "a" } })
        assert.is_nil(short)
        assert.equal("invalid", serr.kind)
        assert.equal(2, serr.details.row)
        assert.equal(0, #assert(conn:query("SELECT id FROM items WHERE id IN (6001, 6002)")))
        local ok, misuse = pcall(conn.exec_many, conn, "INSERT INTO items (id) VALUES (?)", { { 1 }, "2" })
        assert.is_false(ok)
        assert.matches("bad argument #2 to 'connection:exec_many' (row 2: a list of parameters expected, got string)",
          misuse, 1, true)
        -- A row's value that no server takes names its place in the row.
        local bad, unbindable = pcall(conn.exec_many, conn, "INSERT INTO items (id, name) VALUES (?, ?)",
          { { 6003, "a" }, { 6004, print } })
        assert.is_false(bad)
        assert.matches("db: parameter 2 is a function: bind strings, numbers, booleans, nil or db.null", unbindable, 1, true)
        -- A row's n, when given, is its length: anything else than a count is refused.
        for n, shown in pairs { ["1"] = "string", [-1] = "-1", [1.5] = "1.5" } do
          local fine, wrong_n = pcall(conn.exec_many, conn, "INSERT INTO items (id) VALUES (?)", { { 1, n = n } })
          assert.is_false(fine)
          assert.matches("(row 1: n, the row's length, must be a non-negative integer, got " .. shown .. ")",
            wrong_n, 1, true)
        end
        conn:close()
      end)

      it("streams rows as the loop goes", function()
        local conn = open(driver)
        local sql = driver == "postgres" and "SELECT g AS n FROM generate_series(1, 5000) g"
          or "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 5000) SELECT n FROM s"
        if driver == "mysql" then assert(conn:exec("SET SESSION max_recursive_iterations = 100000")) end
        local count, sum = 0, 0
        for row in conn:rows(sql) do
          count = count + 1
          sum = sum + row.n
        end
        assert.equal(5000, count)
        assert.equal(5000 * 5001 / 2, sum)
      end)
    end)
  end

  describe("a server's connections", function()
    local PID = { mysql = "SELECT CONNECTION_ID() AS pid", postgres = "SELECT pg_backend_pid() AS pid" }
    local BIG = { mysql = "SELECT seq AS n FROM seq_1_to_100000", postgres = "SELECT g AS n FROM generate_series(1, 100000) g" }

    for _, driver in ipairs { "mysql", "postgres" } do
      it(driver .. ": keeps a connection across statements and errors, and replaces one a loop left unread", function()
        local conn = open(driver)
        local pid = assert(conn:query(PID[driver]))[1].pid
        assert.equal(pid, assert(conn:query(PID[driver]))[1].pid)
        assert.is_nil(conn:query("SELEC 1"))
        assert.equal(pid, assert(conn:query(PID[driver]))[1].pid, "a refused statement leaves the connection fit")
        local next_row = conn:rows(BIG[driver])
        assert.equal(1, next_row().n)
        next_row = nil -- luacheck: ignore 311
        collectgarbage()
        collectgarbage()
        local again = assert(conn:query(PID[driver]))[1].pid
        assert.not_equal(pid, again, "the connection of a loop left unread is closed, not lent mid-answer")
        assert.same({ { n = 1 }, { n = 2 } }, { assert(conn:query("SELECT 1 AS n"))[1], assert(conn:query("SELECT 2 AS n"))[1] })
      end)

      it(driver .. ": reads each column type the same in a query and in a rows loop", function()
        local conn = open(driver)
        local sql = driver == "postgres"
          and [[SELECT 7::int2 AS small, -7::int4 AS int, 9007199254740993::int8 AS big, 0.5::float4 AS real,
            0.25::float8 AS double, true AS yes, 'v'::varchar AS varchar, 'ab'::char(3) AS fixed, 'n'::name AS name,
            '\x00ff'::bytea AS bytes, 1.50::numeric AS decimal, NULL::int4 AS nothing]]
          or [[SELECT CAST(7 AS SIGNED) AS small, -7 AS `int`, 9007199254740993 AS big, CAST(0.5 AS FLOAT) AS `real`,
            CAST(0.25 AS DOUBLE) AS `double`, TRUE AS yes, CAST('v' AS CHAR) AS `varchar`, 'ab' AS fixed, 'n' AS name,
            X'00ff' AS bytes, CAST(1.50 AS DECIMAL(4,2)) AS `decimal`, NULL AS nothing]]
        local queried = assert(conn:query(sql))[1]
        local streamed
        for row in conn:rows(sql) do streamed = row end
        for _, row in ipairs { queried, streamed } do
          assert.equal(7, row.small)
          assert.equal(-7, row.int)
          if integers then assert.equal(9007199254740993, row.big) else assert.equal("9007199254740993", row.big) end
          assert.equal(0.5, row.real)
          assert.equal(0.25, row.double)
          assert.equal("v", row.varchar)
          assert.equal(driver == "postgres" and "ab " or "ab", row.fixed)
          assert.equal("n", row.name)
          assert.equal("\0\255", row.bytes)
          assert.equal("1.50", row.decimal)
          assert.equal(db.null, row.nothing)
        end
        assert.equal(true, driver == "postgres" and queried.yes or queried.yes == 1)
        -- Single-precision floats read as their shortest decimals (PostgreSQL writes the same;
        -- MariaDB six digits: 16777200), not as the wider double of their bits.
        local floats = "floats_" .. driver
        assert(conn:exec(("CREATE TABLE %s (id INT, f %s)"):format(floats, driver == "postgres" and "REAL" or "FLOAT")))
        for i, x in ipairs { 0.1, 3.4e38, -1.5, 16777217, 1e-7 } do
          assert(conn:exec("INSERT INTO " .. floats .. " VALUES (?, ?)", i, x))
        end
        local read = {}
        for r in conn:rows("SELECT f FROM " .. floats .. " ORDER BY id") do read[#read + 1] = r.f end
        assert.same({ 0.1, 3.4e38, -1.5, 16777216, 1e-7 }, read)
        if driver == "postgres" then
          for _, r in ipairs(assert(conn:query("SELECT f, f::text AS t FROM " .. floats))) do assert.equal(tonumber(r.t), r.f) end
        end
        assert(conn:exec("DROP TABLE " .. floats))
        if driver == "mysql" then
          -- TINYINT(1) is MySQL's BOOLEAN: a boolean while it holds 0 or 1, else its integer.
          assert(conn:exec("CREATE TABLE flags (b TINYINT(1))"))
          assert(conn:exec("INSERT INTO flags VALUES (0), (1), (2), (-128), (NULL)"))
          read = {}
          for r in conn:rows("SELECT b FROM flags") do read[#read + 1] = r.b end
          assert.same({ false, true, 2, -128, db.null }, read)
          assert(conn:exec("DROP TABLE flags"))
        end
        if driver == "postgres" then
          local none, err = conn:query("SELECT 'a b'::tsvector AS p")
          assert.is_nil(none)
          assert.matches("cast it in the query", tostring(err))
          assert.equal(1, assert(conn:query("SELECT 1 AS n"))[1].n, "the connection is still fit")
        end
      end)

      it(driver .. ": tells a statement that no connection came free, while a transaction holds the pool's one", function()
        local conn = assert(db.connect(driver, servers[driver].url, { timeout = 0.5, pool = 1 }))
        local none, err = conn:transaction(function(tx)
          assert(tx:exec("SELECT 1"))
          local outside, oerr = conn:query("SELECT 1")
          assert.is_nil(outside)
          return nil, oerr
        end)
        assert.is_nil(none)
        assert.equal("timeout", err.kind)
        assert.matches("no connection came free within the timeout", tostring(err))
        assert.equal(1, assert(conn:query("SELECT 1 AS n"))[1].n, "the transaction gave it back")
      end)
    end
  end)

  describe("servers", function()
    it("refuses a wrong password with an auth error that does not show it", function()
      for _, driver in ipairs { "mysql", "postgres" } do
        local s = assert(servers[driver], driver .. " is not installed")
        local url = ("%s://essh:wrong-password@127.0.0.1:%d/essh"):format(driver, s.port)
        local none, err = db.connect(driver, url, { timeout = 5 })
        assert.is_nil(none)
        assert.equal("auth", err.kind, tostring(err))
        assert.not_matches("wrong%-password", tostring(err))
      end
    end)

    it("applies the URL parameters it knows and refuses the others, and those that connect elsewhere", function()
      for driver, case in pairs {
        mysql = { "?charset=latin1", "SELECT @@character_set_client AS v", "latin1" },
        postgres = { "?application_name=essh-spec", "SELECT current_setting('application_name') AS v", "essh-spec" },
      } do
        local url = assert(servers[driver], driver .. " is not installed").url
        local conn = assert(db.connect(driver, url .. case[1]))
        assert.equal(case[3], assert(conn:query(case[2]))[1].v)
        conn:close()
        local none, err = db.connect(driver, url .. "?connect_timeout=5")
        assert.is_nil(none)
        assert.equal("invalid", err.kind)
        assert.matches("'connect_timeout' is not a " .. driver .. " parameter essh applies", err.message, 1, true)
        none, err = db.connect(driver, url .. (driver == "mysql" and "?socket=/tmp/elsewhere" or "?host=10.0.0.1"))
        assert.is_nil(none)
        assert.matches("would connect elsewhere than the URL names", err.message, 1, true)
      end
    end)

    it("reads dates and times as their servers write them: zero dates, long times, infinities", function()
      -- LuaSQL reads the text protocol, the servers' own rendering; essh's is ISO 8601 (a T
      -- between date and time, Z after a TIMESTAMP in UTC, no trailing zeros in fractions).
      local function same_as_text(v)
        if v == db.null then return nil end
        return (tostring(v):gsub("T", " "):gsub("Z$", ""):gsub("(%.%d-)0+$", "%1"):gsub("%.$", ""))
      end
      local cases = {
        mysql = { "SET SESSION sql_mode = ''", [[CREATE TABLE moments (t TIME(6), d DATE, dt DATETIME(6), ts TIMESTAMP NULL)]],
          [[INSERT INTO moments VALUES ('-838:59:59', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),
            ('100:00:00.5', '2026-00-15', '2026-12-00 10:00:00.25', NULL), ('-00:00:01.5', NULL, NULL, '2026-12-06 10:00:00')]] },
        postgres = { "SET TIME ZONE 'UTC'", [[CREATE TABLE moments (t TIME, d DATE, dt TIMESTAMP, ts TIMESTAMPTZ)]],
          [[INSERT INTO moments VALUES ('24:00:00', 'infinity', '-infinity', 'infinity'),
            ('23:59:59.5', '-infinity', 'infinity', '-infinity'), (NULL, '2026-12-06', '2026-12-06 10:00:00.25', NULL)]] },
      }
      for driver, sql in pairs(cases) do
        local s = assert(servers[driver], driver .. " is not installed")
        local conn = open(driver)
        local theirs = assert(require("luasql." .. driver)[driver]():connect(s.database, s.user, s.password, "127.0.0.1", s.port))
        for _, statement in ipairs(sql) do
          assert(conn:exec(statement))
          if not statement:find("^CREATE") and not statement:find("^INSERT") then assert(theirs:execute(statement)) end
        end
        local ours = assert(conn:query("SELECT t, d, dt, ts FROM moments"))
        local cur = assert(theirs:execute("SELECT t, d, dt, ts FROM moments"))
        for i, row in ipairs(ours) do
          local text = cur:fetch({}, "a")
          for _, column in ipairs { "t", "d", "dt", "ts" } do
            local expected = text[column] and (text[column]:gsub("%+00$", ""):gsub("(%.%d-)0+$", "%1"):gsub("%.$", ""))
            assert.equal(expected, same_as_text(row[column]), ("%s row %d %s"):format(driver, i, column))
          end
        end
        cur:close()
        theirs:close()
        conn:close()
      end
    end)

    it("reads PostgreSQL's enums, domains and XML as their text, arrays as lists, and names the types it cannot read", function()
      local conn = open("postgres")
      for _, sql in ipairs {
        "CREATE TYPE mood AS ENUM ('happy', 'sad')",
        "CREATE DOMAIN positive AS INT CHECK (VALUE > 0)",
        "CREATE DOMAIN label AS TEXT",
        "CREATE TABLE typed (m mood, p positive, l label, x XML)",
        "INSERT INTO typed VALUES ('sad', 42, 'tag', '<a b=\"1\"/>')",
      } do assert(conn:exec(sql)) end
      local row = assert(conn:query("SELECT m, p, l, x FROM typed"))[1]
      assert.same({ "sad", 42, "tag", '<a b="1"/>' }, { row.m, row.p, row.l, row.x })
      for r in conn:rows("SELECT m, p FROM typed") do assert.same({ "sad", 42 }, { r.m, r.p }) end
      local arrays = [=[SELECT ARRAY[1, NULL, 3] AS i, ARRAY[['a', 'b'], ['c', 'd']] AS grid, '{}'::int[] AS empty,
        ARRAY['2026-12-06'::date, 'infinity'] AS days, ARRAY[1.50]::numeric[] AS n, ARRAY[true] AS b]=]
      local function check(a)
        assert.same({ 1, db.null, 3 }, a.i)
        assert.same({ { "a", "b" }, { "c", "d" } }, a.grid)
        assert.same({}, a.empty)
        assert.same({ "2026-12-06", "infinity" }, a.days)
        assert.same({ "1.50" }, a.n)
        assert.same({ true }, a.b)
      end
      check(assert(conn:query(arrays))[1])
      for a in conn:rows(arrays) do check(a) end
      local none, err = conn:query("SELECT ARRAY['a b'::tsvector] AS a")
      assert.is_nil(none)
      assert.matches("essh cannot read PostgreSQL's tsvector[]: a type essh does not read yet (OID 3614): cast it in"
        .. " the query (::text)", tostring(err), 1, true)
      none, err = conn:query("SELECT 12.5::money AS m")
      assert.is_nil(none)
      assert.matches("essh cannot read PostgreSQL's MONEY: its text follows the server's locale: cast it in the"
        .. " query (::numeric)", tostring(err), 1, true)
      -- Intervals as ISO 8601, exactly as the server writes them with intervalstyle = iso_8601.
      assert(conn:exec("SET intervalstyle = iso_8601"))
      local intervals = { "0", "1 day", "-1 day", "1 year 2 mons 3 days 04:05:06.789", "-1 year +2 mons -3 days 04:05:06",
        "-00:00:00.5", "1 mon -1 sec", "100 hours", "-1 years -1 mons", "1.000001 sec", "178000000 years" }
      for _, text in ipairs(intervals) do
        local r = assert(conn:query("SELECT ?::interval AS i, ?::interval::text AS t, ARRAY[?::interval] AS a",
          text, text, text))[1]
        assert.equal(r.t, r.i, text)
        assert.same({ r.t }, r.a, text)
      end
      conn:close()
    end)

    it("reads PostgreSQL's addresses, bit strings, geometry and ranges as the server writes them", function()
      local conn = open("postgres")
      local same_as_server = {
        { "inet", "10.0.0.1", "10.0.0.1/24", "::1", "2001:db8::1:0:0:1", "::ffff:1.2.3.4", "::1.2.3.4", "::2",
          "1::", "fe80::1/64", "0.0.0.0/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
        { "cidr", "10.0.0.0/8", "192.168/24", "10.1.2.3/32", "2001:4f8:3:ba::/64", "::ffff:1.2.3.0/120" },
        { "macaddr", "08:00:2b:01:02:03" }, { "macaddr8", "08:00:2b:01:02:03:04:05" },
        { "bit(5)", "10101" }, { "varbit", "", "1", "110010111" },
        { "point", "(1.5,-2)", "(1e20,1e-5)", "(0.1,100000000000000)", "(NaN,-Infinity)" },
        { "lseg", "[(0,0),(1,1)]" }, { "box", "(1,1),(0,0)" }, { "path", "((0,0),(1,1),(2,0))", "[(0,0),(1,1)]" },
        { "polygon", "((0,0),(1,1),(2,0))" }, { "line", "{1,-1,0}" }, { "circle", "<(1,2),3.5>" },
        { "int4range", "[1,10)", "empty", "(,5]", "[3,)", "(,)" }, { "int8range", "[9007199254740993,9007199254740999]" },
        { "numrange", "(1.5,2.25]", "[0.1,)" }, { "daterange", "[2026-01-01,2026-12-31]", "[,infinity)" },
        { "int4multirange", "{}", "{[1,3),[5,7)}" }, { "datemultirange", "{[2026-01-01,2026-01-03)}" },
        { '"char"', "x" }, { "pg_lsn", "16/B374D848", "0/0" }, { "tid", "(1,2)" },
        -- JSON exactly as the server keeps it: its numbers' digits, jsonb's key order and spaces.
        { "json", '{"x": 1e400, "b": [1.10]}' }, { "jsonb", '{"b":1,"aa":2}', "12345678901234567890123", "1.10" },
        { "date", "0001-01-01", "2026-12-06" },
      }
      for _, case in ipairs(same_as_server) do
        for i = 2, #case do
          -- format's %s is the type's output function (a cast of an inet to text adds its /32).
          local sql = ("SELECT ?::%s AS v, format('%%s', ?::%s) AS t, ARRAY[?::%s] AS a"):format(case[1], case[1], case[1])
          local r = assert(conn:query(sql, case[i], case[i], case[i]))[1]
          assert.equal(r.t, r.v, case[1] .. " " .. case[i])
          assert.same({ r.t }, r.a, case[1] .. " " .. case[i])
          for streamed in conn:rows(sql, case[i], case[i], case[i]) do assert.equal(r.t, streamed.v) end
        end
      end
      -- Bounds of time ranges as essh reads the element type (ISO 8601; with time zones, UTC).
      assert(conn:exec("SET TimeZone = 'UTC'"))
      local written_by_essh = {
        { "tsrange", "[2026-01-01 10:00,2026-01-02 00:00:00.5)", "[2026-01-01T10:00:00,2026-01-02T00:00:00.500)" },
        { "tstzrange", "[2026-01-01 10:00+02,)", "[2026-01-01T08:00:00Z,)" },
        { "tsmultirange", "{[2026-01-01,2026-01-02)}", "{[2026-01-01T00:00:00,2026-01-02T00:00:00)}" },
        { "timetz", "04:05:06.789+02", "04:05:06.789+02:00" }, { "timetz", "23:59:59-05:30", "23:59:59-05:30" },
        { "timetz", "24:00:00+00", "24:00:00+00:00" }, { "timetz", "12:00:00+01:02:03", "12:00:00+01:02:03" },
        -- Years chrono does not reach, and before 1 AD (ISO 8601 counts 1 BC as year 0).
        { "date", "5874897-12-31", "+5874897-12-31" }, { "date", "4713-01-01 BC", "-4712-01-01" },
        { "date", "0001-12-31 BC", "0000-12-31" },
        { "timestamp", "294276-12-31 23:59:59.999", "+294276-12-31T23:59:59.999" },
        { "timestamptz", "4713-01-01 00:00:00+00 BC", "-4712-01-01T00:00:00Z" },
        { "xid", "123", 123 }, { "oidvector", "1 2", { 1, 2 } }, { "int2vector", "3 4", { 3, 4 } },
      }
      for _, case in ipairs(written_by_essh) do
        local r = assert(conn:query(("SELECT ?::%s AS v, ARRAY[?::%s] AS a"):format(case[1], case[1]), case[2], case[2]))[1]
        assert.same(case[3], r.v, case[1] .. " " .. case[2])
        assert.same({ case[3] }, r.a, case[1] .. " " .. case[2])
      end
      -- Records: an anonymous one as a list of its fields, a composite type's as a table by name.
      assert.same({ 1, "a", db.null, { 1, 2 }, { true, "2026-12-06" } },
        assert(conn:query("SELECT row(1, 'a', NULL::int, ARRAY[1, 2], row(true, '2026-12-06'::date)) AS r"))[1].r)
      assert(conn:exec("CREATE TYPE mood_pair AS (name text, n int, tags text[])"))
      assert(conn:exec("CREATE TYPE deploy_record AS (host text, pair mood_pair, at timestamptz)"))
      local sql = [[SELECT row('web1', row('x', 7, ARRAY['a', 'b'])::mood_pair, '2026-12-06 10:00+00')::deploy_record AS d,
        ARRAY[row('y', NULL, NULL)::mood_pair] AS pairs]]
      local expected = { host = "web1", pair = { name = "x", n = 7, tags = { "a", "b" } }, at = "2026-12-06T10:00:00Z" }
      for _, r in ipairs { assert(conn:query(sql))[1], conn:rows(sql)() } do
        assert.same(expected, r.d)
        assert.same({ { name = "y", n = db.null, tags = db.null } }, r.pairs)
      end
      conn:close()
    end)

    it("takes the password from an essh.secret", function()
      local s = assert(servers.postgres)
      local conn = assert(db.connect("postgres", ("postgres://essh@127.0.0.1:%d/essh"):format(s.port),
        { password = require("essh").secret(s.password) }))
      assert.equal(1, assert(conn:query("SELECT 1 AS one"))[1].one)
      assert.not_matches(s.password, conn.url)
    end)

    it("ends a query whose connection the server kills with an error, not a hang", function()
      for _, driver in ipairs { "mysql", "postgres" } do
        local conn = open(driver)
        local id_sql = driver == "postgres" and "SELECT pg_backend_pid() AS id" or "SELECT CONNECTION_ID() AS id"
        local id = assert(conn:query(id_sql))[1].id
        local results = runtime.parallel {
          function() return conn:query(driver == "postgres" and "SELECT pg_sleep(30)" or "SELECT SLEEP(30)") end,
          function()
            runtime.sleep(0.5)
            local kill = driver == "postgres" and "SELECT pg_terminate_backend(%d)" or "KILL %d"
            servers[driver].admin(kill:format(id))
          end,
        }
        local outcome = results[1]
        assert.is_nil(outcome[1], driver)
        assert.truthy(outcome[2], driver)
      end
    end)

    it("stops a statement at Ctrl-C with an error, and the connection goes on", function()
      for _, driver in ipairs { "mysql", "postgres" } do
        local code = ([[
local db = require "essh.db"
local runtime = require "essh.runtime"
local conn = assert(db.connect(%q, %q))
local t0 = runtime.monotonic()
local ok, err = pcall(conn.query, conn, %q)
print(ok, err.kind, runtime.monotonic() - t0 < 10, assert(conn:query("SELECT 1 AS one"))[1].one)
]]):format(driver, servers[driver].url, driver == "postgres" and "SELECT pg_sleep(30)" or "SELECT SLEEP(30)")
        local command, path = lua.script(code)
        local out = shell.run("(" .. command .. " & pid=$!; sleep 1; kill -INT $pid; wait $pid)")
        os.remove(path)
        assert.equal("false\tinterrupted\ttrue\t1\n", out, driver)
      end
    end)

    -- A transaction's statement that its MariaDB connection has prepared runs on the Lua thread,
    -- which waits for the reply itself (src/db/direct.rs): each of these runs a statement once to
    -- prepare it, then again where it runs in place.
    it("runs a prepared MariaDB statement in place as on the runtime: results, errors, counts", function()
      local conn = open("mysql")
      assert(conn:exec("DROP TABLE IF EXISTS in_place"))
      assert(conn:exec("CREATE TABLE in_place (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) UNIQUE, n INT)"))
      assert(conn:exec("DROP PROCEDURE IF EXISTS two_results"))
      assert(conn:exec("CREATE PROCEDURE two_results() BEGIN SELECT 1 AS one; UPDATE in_place SET n = n + 1; END"))
      local seen = {}
      assert(conn:transaction(function(tx)
        for i = 1, 3 do
          seen[#seen + 1] = assert(tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row " .. i, i))
        end
        local none, err = tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 2", 9)
        assert.is_nil(none)
        assert.equal("constraint", err.kind)
        assert.equal("name", err.details.constraint)
        none, err = tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 4")
        assert.is_nil(none)
        assert.equal("invalid", err.kind)
        assert.matches("the statement takes 2 parameters, 1 given", err.message, 1, true)
        seen[#seen + 1] = assert(tx:exec("CALL two_results()"))
        seen[#seen + 1] = assert(tx:exec("CALL two_results()"))
        seen[#seen + 1] = assert(tx:exec("UPDATE in_place SET n = n * ? WHERE id > ?", 10, 1))
        seen[#seen + 1] = assert(tx:exec("UPDATE in_place SET n = n * ? WHERE id > ?", 10, 5))
      end))
      assert.same({
        { affected = 1, last_insert_id = 1 }, { affected = 1, last_insert_id = 2 }, { affected = 1, last_insert_id = 3 },
        { affected = 3 }, { affected = 3 }, { affected = 2 }, { affected = 0 },
      }, seen)
      local rows = assert(conn:query("SELECT id, n FROM in_place ORDER BY id"))
      assert.same({ { id = 1, n = 3 }, { id = 2, n = 40 }, { id = 3, n = 50 } }, { rows[1], rows[2], rows[3], rows[4] })
      conn:close()
    end)

    it("runs a prepared PostgreSQL statement in place as on the runtime: results, errors, counts", function()
      local conn = open("postgres")
      assert(conn:exec("DROP TABLE IF EXISTS in_place"))
      assert(conn:exec("CREATE TABLE in_place (id SERIAL PRIMARY KEY, name VARCHAR(20) CONSTRAINT in_place_name UNIQUE, n INT)"))
      local seen = {}
      assert(conn:transaction(function(tx)
        for i = 1, 3 do
          seen[#seen + 1] = assert(tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row " .. i, i))
        end
        seen[#seen + 1] = assert(tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 4", nil))
        local none, err = tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 5")
        assert.is_nil(none)
        assert.equal("invalid", err.kind)
        assert.matches("the statement takes 2 parameters, 1 given", err.message, 1, true)
        -- Rows a statement returns are read and dropped.
        for i = 5, 6 do
          seen[#seen + 1] = assert(tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?) RETURNING id, name", "row " .. i, i))
        end
        seen[#seen + 1] = assert(tx:exec("UPDATE in_place SET n = n * ? WHERE id > ?", 10, 1))
        seen[#seen + 1] = assert(tx:exec("UPDATE in_place SET n = n * ? WHERE id > ?", 10, 5))
        -- A value of another type than the prepared statement takes runs a statement of its own.
        seen[#seen + 1] = assert(tx:exec("UPDATE in_place SET n = n * ? WHERE id > ?", 0.5, 5))
      end))
      assert.same({
        { affected = 1 }, { affected = 1 }, { affected = 1 }, { affected = 1 }, { affected = 1 }, { affected = 1 },
        { affected = 5 }, { affected = 1 }, { affected = 1 },
      }, seen)
      local rows = assert(conn:query("SELECT id, n FROM in_place ORDER BY id"))
      assert.same({ { id = 1, n = 1 }, { id = 2, n = 20 }, { id = 3, n = 30 }, { id = 4, n = db.null },
        { id = 5, n = 50 }, { id = 6, n = 300 } }, { rows[1], rows[2], rows[3], rows[4], rows[5], rows[6] })

      -- The server's error ends the statement; the transaction rolls back and the connection goes on.
      local none, err, after
      local ok = conn:transaction(function(tx)
        assert(tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 7", 7))
        none, err = tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 2", 9)
        after = select(2, tx:exec("INSERT INTO in_place (name, n) VALUES (?, ?)", "row 8", 8))
        error("roll back")
      end)
      assert.is_nil(ok)
      assert.is_nil(none)
      assert.equal("constraint", err.kind)
      assert.equal("in_place_name", err.details.constraint)
      assert.matches("aborted", after.message)
      assert.equal(6, assert(conn:query("SELECT count(*) AS n FROM in_place"))[1].n)
      conn:close()
    end)

    -- tx:exec answers plain calls from the C stack (src/db/entry.rs) and hands the rest to the
    -- function every other method goes through: both read the same values the same way.
    it("reads a transaction's exec arguments alike on its short way and its full one", function()
      -- The entry is a C function among the upvalues of the method's wrappers, its fourth true.
      local function entry_in(fn, depth)
        for i = 1, 8 do
          local name, value = debug.getupvalue(fn, i)
          if name == nil then return nil end
          if type(value) == "function" then
            if select(2, debug.getupvalue(value, 4)) == true then return value end
            local found = depth > 0 and entry_in(value, depth - 1)
            if found then return found end
          end
        end
      end
      local entry = entry_in(debug.getregistry()["essh_native.db.Transaction"].exec, 3)
      -- Calls that reach the full function (upvalue 2) are counted.
      local full, calls = entry and select(2, debug.getupvalue(entry, 2)), 0
      if entry then
        debug.setupvalue(entry, 2, function(...)
          calls = calls + 1
          return full(...)
        end)
        finally(function() debug.setupvalue(entry, 2, full) end)
      end
      local secret = require("essh").secret("kept secret")
      -- Below 2^53 a number binds on the short way everywhere; beyond it, on 5.1 and LuaJIT,
      -- only on the full one (as mlua reads it, an integer).
      local big, bigger = math.floor(2 ^ 40), math.floor(2 ^ 60)
      for _, driver in ipairs { "mysql", "postgres" } do
        local conn = open(driver)
        assert(conn:exec("DROP TABLE IF EXISTS entry"))
        assert(conn:exec("CREATE TABLE entry (id INT PRIMARY KEY, big BIGINT, f DOUBLE PRECISION, flag BOOLEAN, t TEXT)"))
        local insert = "INSERT INTO entry VALUES (?, ?, ?, ?, ?)"
        local kept, errors = nil, {}
        assert(conn:transaction(function(tx)
          kept = tx
          local before = calls
          for id = 1, 2 do assert(tx:exec(insert, id, big, 2.5, true, "it's ?")) end
          -- The first prepares the statement on the runtime; the second runs in place.
          if entry then assert.equal(1, calls - before, driver) end
          assert(tx:exec(insert, 3, -bigger, -0.0, false, secret))
          assert(tx:exec(insert, 4, nil, 0.25, db.null, nil))
          errors.table = select(2, pcall(tx.exec, tx, insert, 5, {}, 1, true, "x"))
          errors.receiver = select(2, pcall(tx.exec, conn, "SELECT 1"))
          errors.nul = select(2, pcall(tx.exec, tx, "SELECT 1\0"))
        end))
        assert.matches("parameter 2 is a table", errors.table, 1, true)
        assert.matches("calling 'transaction:exec' on bad self", errors.receiver, 1, true)
        assert.matches("SQL without NUL bytes expected", errors.nul, 1, true)
        local none, err = kept:exec(insert, 6, 1, 1, true, "late")
        assert.is_nil(none)
        assert.matches("transaction", err.message)
        local rows = assert(conn:query("SELECT id, big, f, flag, t FROM entry ORDER BY id"))
        local function as_read(n) return (integers or math.abs(n) < 2 ^ 53) and n or ("%.0f"):format(n) end
        assert.same({
          { id = 1, big = as_read(big), f = 2.5, flag = true, t = "it's ?" },
          { id = 2, big = as_read(big), f = 2.5, flag = true, t = "it's ?" },
          { id = 3, big = as_read(-bigger), f = 0, flag = false, t = "kept secret" },
          { id = 4, big = db.null, f = 0.25, flag = db.null, t = db.null },
        }, rows and { rows[1], rows[2], rows[3], rows[4] }, driver)
        assert.equal(4, #rows, driver)
        -- Inside tasks the full function runs each statement on the runtime, and the task waits.
        local function task(first)
          return function()
            return assert(conn:transaction(function(tx)
              local affected = 0
              for id = first, first + 4 do affected = affected + assert(tx:exec(insert, id, id, 0, true, "task")).affected end
              return affected
            end))
          end
        end
        local done = runtime.parallel({ task(10), task(20) })
        assert.same({ 5, 5 }, { done[1][1], done[2][1] }, driver)
        assert.equal(10, assert(conn:query("SELECT count(*) AS n FROM entry WHERE t = 'task'"))[1].n, driver)
        conn:close()
      end
      -- The entry's job for an error it cannot describe itself cannot be forged from Lua.
      if not entry then
        assert.is_true(_VERSION == "Lua 5.1" and jit == nil, "Lua 5.1 alone hides a C function's upvalues")
        return
      end
      local settle = select(2, debug.getupvalue(entry, 3))
      assert.equal("function", type(settle))
      -- A native function's error comes back marked, for its caller to raise.
      local said = {}
      for _, v in ipairs { pcall(settle, db.null) } do said[#said + 1] = tostring(v) end
      assert.matches("not a job of transaction:exec's", table.concat(said, " "), 1, true)
    end)

    it("ends a statement that runs in place at its timeout, and at Ctrl-C", function()
      for _, driver in ipairs { "mysql", "postgres" } do
        local sleep = driver == "mysql" and "DO SLEEP(?)" or "SELECT pg_sleep(?)"
        local conn = open(driver, { timeout = 1 })
        local none, err, waited
        conn:transaction(function(tx)
          assert(tx:exec(sleep, 0))
          local t0 = runtime.monotonic()
          none, err = tx:exec(sleep, 3)
          waited = runtime.monotonic() - t0
        end)
        assert.is_nil(none, driver)
        assert.equal("timeout", err.kind, driver)
        assert.is_true(err.retryable, driver)
        assert.is_true(waited >= 1 and waited < 2, driver .. " " .. waited)
        assert.equal(1, assert(conn:query("SELECT 1 AS one"))[1].one, driver)
        conn:close()

        local code = ([[
local db = require "essh.db"
local runtime = require "essh.runtime"
local conn = assert(db.connect(%q, %q))
conn:transaction(function(tx)
  assert(tx:exec(%q, 0))
  local t0 = runtime.monotonic()
  local ok, err = pcall(tx.exec, tx, %q, 30)
  print(ok, err.kind, runtime.monotonic() - t0 < 10)
  os.exit(0)
end)
]]):format(driver, servers[driver].url, sleep, sleep)
        local command, path = lua.script(code)
        local out = shell.run("(" .. command .. " & pid=$!; sleep 1; kill -INT $pid; wait $pid)")
        os.remove(path)
        assert.equal("false\tinterrupted\ttrue\n", out, driver)
      end
    end)

    it("streams a million rows in flat memory", function()
      local s = assert(servers.postgres)
      local code = ([[
local db = require "essh.db"
local conn = assert(db.connect("postgres", %q))
local n, bytes = 0, 0
for row in conn:rows("SELECT g AS id, md5(g::text) AS digest FROM generate_series(1, 1000000) g") do
  n = n + 1
  bytes = bytes + #row.digest
end
print(n, bytes)
]]):format(s.url)
      local command, path = lua.script(code)
      local out = shell.must(("/usr/bin/time -f 'rss=%%M' %s 2>&1"):format(command))
      os.remove(path)
      assert.matches("1000000\t32000000", out)
      local rss = tonumber(out:match("rss=(%d+)"))
      -- 1,000,000 rows held at once take more than 150 MB of Lua tables.
      assert.truthy(rss < 80 * 1024, "peak RSS " .. rss .. " KB")
    end)

    it("asks the db permission for the database a connection reaches", function()
      local permissions = require "essh.permissions"
      local policy = permissions.policy({ db = { "sqlite::memory:", "postgres://127.0.0.1:*/essh" } }, "the spec's grants")
      local conn = open("postgres")
      local _, allowed, refused, err, query_err = permissions.within(policy, { task = "db" }, function()
        local a = db.connect("sqlite", "sqlite::memory:")
        local r, e = db.connect("mysql", assert(servers.mysql).url)
        local rows = conn:query("SELECT 1 AS one")
        return a, r, e, rows and "ran"
      end)
      assert.truthy(allowed)
      assert.is_nil(refused)
      assert.equal("permission_denied", err.kind)
      assert.equal(("mysql://127.0.0.1:%d/essh"):format(servers.mysql.port), err.details.resource)
      assert.equal("ran", query_err)
      -- A connection made before the policy: its batch is the database's too.
      local theirs = open("mysql")
      local _, none, denied = permissions.within(policy, { task = "db" }, function()
        return theirs:exec_many("SELECT ?", { { 1 } })
      end)
      assert.is_nil(none)
      assert.equal("permission_denied", denied.kind)
      theirs:close()
    end)

    it("keeps a SQLite database on disk between connections", function()
      local file = fs.join(dir, "app.db")
      local conn = assert(db.connect("sqlite", "sqlite:" .. file))
      assert(conn:exec("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)"))
      local r = assert(conn:exec("INSERT INTO kv VALUES (?, ?)", "release", "v42"))
      assert.equal(1, r.last_insert_id)
      conn:close()
      local again = assert(db.connect("sqlite", "sqlite:" .. file))
      assert.equal("v42", assert(again:query("SELECT v FROM kv WHERE k = ?", "release"))[1].v)
    end)
  end)

  -- A PostgreSQL with TLS in a network namespace, beside an sshd: only the tunnel reaches it.
  describe("through ssh and over TLS", function()
    local ns, pg, server
    local NET, HOST_SIDE, NS_SIDE = "10.213.0.0/30", "10.213.0.1", "10.213.0.2"

    setup(function()
      local id = tostring(os.time() % 100000)
      local name = "essh-db-" .. id
      if shell.sh(("ip netns add %s 2>/dev/null"):format(name)) then
        ns = name
        shell.must(("ip link add edb%sh type veth peer name edb%sn && ip link set edb%sn netns %s"
          .. " && ip addr add %s/30 dev edb%sh && ip link set edb%sh up"
          .. " && ip netns exec %s sh -c 'ip addr add %s/30 dev edb%sn && ip link set edb%sn up && ip link set lo up'")
          :format(id, id, id, ns, HOST_SIDE, id, id, ns, NS_SIDE, id, id))
        pg = databases.postgres { netns = ns, tls = true }
        server = sshd.start { netns = ns, listen = { NS_SIDE }, clients = { NET } }
      end
    end)

    teardown(function()
      if server then server.stop() end
      if pg then pg.stop() end
      if ns then shell.run("ip netns delete " .. ns) end
    end)

    local function needs_namespace()
      if not ns then pending("needs root for ip netns") end
      return ns ~= nil
    end

    it("reaches a database that only the ssh server's side can reach, through via", function()
      if not needs_namespace() then return end
      local direct, derr = db.connect("postgres", pg.url, { timeout = 3 })
      assert.is_nil(direct)
      assert.equal("network", derr.kind, tostring(derr))
      local session = assert(require("essh.ssh").connect(server.options()))
      local conn = assert(db.connect("postgres", pg.url, { via = session, ca_file = pg.ca_file }))
      local row = assert(conn:query("SELECT ssl, inet_client_addr()::text AS client FROM pg_stat_ssl"
        .. " JOIN pg_stat_activity USING (pid) WHERE pid = pg_backend_pid()"))[1]
      assert.is_true(row.ssl)
      assert.equal("127.0.0.1/32", row.client)
      conn:close()
      -- Without TLS, a transaction's prepared statement runs in place (src/db/direct.rs) while
      -- the runtime's workers carry the tunnel.
      local plain = assert(db.connect("postgres", pg.url .. "?sslmode=disable", { via = session, timeout = 5 }))
      local seen = {}
      assert(plain:transaction(function(tx)
        for i = 1, 3 do seen[i] = assert(tx:exec("SELECT generate_series(1, ?)", i)).affected end
      end))
      assert.same({ 1, 2, 3 }, seen)
      plain:close()
      session:close()
    end)

    it("goes through a task's own connection with via = t", function()
      if not needs_namespace() then return end
      local out, status = lua.run(([[
local essh = require "essh"
essh.host "db1" { HostName = %q, Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
essh.task "count" { targets = "db1", script = function(t)
  local conn = assert(essh.db.connect("postgres", %q, { via = t, ca_file = %q }))
  print("rows", assert(conn:query("SELECT count(*) AS n FROM generate_series(1, 42)"))[1].n)
end }
local report = essh.run("count")
os.exit(report.ok and 0 or 1)
]]):format(server.address, server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts, pg.url,
        pg.ca_file))
      assert.equal(0, status, out)
      assert.matches("rows\t42\n", out)
    end)

    it("verifies the server's certificate: refused without its CA, allowed with insecure and a warning", function()
      if not needs_namespace() then return end
      local code = ([[
local essh = require "essh"
local session = assert(essh.ssh.connect({ host = %q, port = %d, user = %q, identity_file = %q,
  known_hosts_file = %q, ssh_config = false, agent = false }))
local none, err = essh.db.connect("postgres", %q .. "?sslmode=verify-full", { via = session, timeout = 5 })
print("verified", none, err and err.kind)
local conn = assert(essh.db.connect("postgres", %q, { via = session, insecure = true }))
print("insecure", assert(conn:query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))[1].ssl)
]]):format(server.address, server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts, pg.url, pg.url)
      local out, status = lua.run(code)
      assert.equal(0, status, out)
      assert.matches("verified\tnil\ttls\n", out)
      assert.matches("insecure\ttrue\n", out)
      assert.matches("TLS certificate verification is off for postgres://essh:%*%*%*%*%*%*@127%.0%.0%.1", out)
      assert.not_matches(pg.password, out, 1, true)
    end)
  end)
end)
