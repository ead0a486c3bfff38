-- The db module's SQLite, which essh calls in place: on every interpreter, with no server. In
-- plain code a statement runs on the Lua thread; in a task it runs off it, so that a database
-- another process has locked holds up no other task.
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local db = require "essh.db"
local json = require "essh.json"
local runtime = require "essh.runtime"

local integers = math.type ~= nil

describe("db on SQLite", function()
  local dir

  setup(function() dir = assert(fs.tempdir()) end)
  teardown(function() shell.run("rm -rf " .. dir) end)

  it("keeps integers beyond 2^53 whole: integers on 5.3+, strings on 5.1 and LuaJIT", function()
    local conn = assert(db.connect("sqlite", "sqlite::memory:"))
    local rows = assert(conn:query("SELECT 9007199254740993 AS big, 9007199254740992 AS edge, -42 AS small, 0.5 AS half"))
    local row = rows[1]
    if integers then
      assert.equal(9007199254740993, row.big)
      assert.equal("integer", math.type(row.small))
    else
      assert.equal("9007199254740993", row.big)
    end
    assert.equal(9007199254740992, tonumber(row.edge))
    assert.equal(-42, row.small)
    assert.equal(0.5, row.half)
    assert.same({ "big", "edge", "small", "half" }, rows.columns)
  end)

  it("runs a script of several statements, binding parameters across them in order", function()
    local conn = assert(db.connect("sqlite", "sqlite::memory:"))
    assert(conn:exec("CREATE TABLE a (x); CREATE TABLE b (y); INSERT INTO a VALUES (?); INSERT INTO b VALUES (?);", 1, "two"))
    assert.equal(1, assert(conn:query("SELECT x FROM a"))[1].x)
    assert.equal("two", assert(conn:query("SELECT y FROM b"))[1].y)
    local none, err = conn:exec("INSERT INTO a VALUES (?)", 1, 2)
    assert.is_nil(none)
    assert.equal("invalid", err.kind)
    assert.matches("takes 1 parameters, 2 given", tostring(err))
  end)

  it("refuses what a SQLite file cannot use, and opens it as its mode asks", function()
    local refusals = {
      { "sqlite::memory:", { ca_file = "/etc/ssl/certs/ca-certificates.crt" }, "ca_file and insecure are TLS options" },
      { "sqlite:" .. dir .. "/t.db", { port = 5432 }, "port and via reach a database server" },
      { "sqlite:" .. dir .. "/t.db", { via = {} }, "port and via reach a database server" },
      { "sqlite::memory:", { pool = 4 }, "in%-memory SQLite database is a single connection" },
      { "sqlite:" .. dir .. "/t.db?cache=shared", nil, "'cache=shared' is not a SQLite parameter essh applies" },
      { "sqlite:" .. dir .. "/t.db?mode=memory", nil, "'mode=memory' is not a SQLite parameter" },
    }
    for _, case in ipairs(refusals) do
      local none, err = db.connect("sqlite", case[1], case[2])
      assert.is_nil(none)
      assert.equal("invalid", err.kind)
      assert.matches(case[3], tostring(err))
    end
    assert.is_nil(fs.stat(dir .. "/t.db"), "a refused connection creates no file")

    local file = dir .. "/modes.db"
    local _, missing = db.connect("sqlite", "sqlite:" .. file .. "?mode=rw")
    assert.equal("not_found", missing.kind)
    local conn = assert(db.connect("sqlite", "sqlite:" .. file .. "?mode=rwc", { pool = 2 }))
    assert(conn:exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)"))
    local reader = assert(db.connect("sqlite", "sqlite:" .. file .. "?mode=ro"))
    assert.equal(1, assert(reader:query("SELECT x FROM t"))[1].x)
    local refused, err = reader:exec("INSERT INTO t VALUES (2)")
    assert.is_nil(refused)
    assert.equal("permission_denied", err.kind)
    assert.matches("readonly", tostring(err))
  end)

  it("decodes the columns the json option names, in queries, rows loops, transactions and tasks", function()
    local conn = assert(db.connect("sqlite", "sqlite::memory:", { json = { "doc" } }))
    assert(conn:exec("CREATE TABLE t (id INTEGER, doc TEXT, raw TEXT)"))
    assert(conn:exec("INSERT INTO t VALUES (1, ?, ?), (2, NULL, 'x')", '{"a": [1, 2], "b": null}', '{"a": 1}'))
    local rows = assert(conn:query("SELECT * FROM t ORDER BY id"))
    assert.same({ 1, 2 }, rows[1].doc.a)
    assert.equal(json.null, rows[1].doc.b)
    assert.equal('{"a": 1}', rows[1].raw)
    assert.equal(db.null, rows[2].doc)
    for row in conn:rows("SELECT doc FROM t WHERE id = 1") do assert.same({ 1, 2 }, row.doc.a) end
    assert(conn:transaction(function(tx) assert.same({ 1, 2 }, assert(tx:query("SELECT doc FROM t"))[1].doc.a) end))
    local results = runtime.parallel { function() return assert(conn:query("SELECT doc FROM t WHERE id = 1"))[1].doc.a[2] end }
    assert.equal(2, results[1][1])
    local none, err = conn:query("SELECT raw AS doc FROM t WHERE id = 2")
    assert.is_nil(none)
    assert.equal("invalid", err.kind)
    assert.matches("column doc of row 1 is not JSON", tostring(err))
    assert.has_error(function() db.connect("sqlite", "sqlite::memory:", { json = "doc" }) end,
      "db.connect: json must be a list of column names, got string")
  end)

  it("names the constraint a statement broke", function()
    local conn = assert(db.connect("sqlite", "sqlite::memory:"))
    assert(conn:exec("CREATE TABLE users (email TEXT UNIQUE, age INTEGER CONSTRAINT adult CHECK (age >= 18))"))
    assert(conn:exec("INSERT INTO users VALUES ('a@example.com', 30)"))
    local _, dup = conn:exec("INSERT INTO users VALUES (?, 40)", "a@example.com")
    assert.equal("constraint", dup.kind)
    assert.equal("users.email", dup.details.constraint)
    local _, young = conn:exec("INSERT INTO users VALUES ('b@example.com', 12)")
    assert.equal("adult", young.details.constraint)
  end)

  it("gives a stopped rows loop's connection back, and says when the in-memory one is in use", function()
    local conn = assert(db.connect("sqlite", "sqlite::memory:"))
    assert(conn:exec("CREATE TABLE t (n)"))
    assert(conn:transaction(function(tx)
      for i = 1, 1500 do assert(tx:exec("INSERT INTO t VALUES (?)", i)) end
    end))
    local next_row = conn:rows("SELECT n FROM t ORDER BY n")
    assert.equal(1, next_row().n)
    local busy, err = conn:query("SELECT count(*) AS c FROM t")
    assert.is_nil(busy)
    assert.matches("in%-memory database's one connection is in use", tostring(err))
    local count = 1
    for _ in next_row do count = count + 1 end
    assert.equal(1500, count)
    assert.equal(1500, assert(conn:query("SELECT count(*) AS c FROM t"))[1].c)
  end)

  it("runs statements, transactions and streams inside tasks", function()
    local conn = assert(db.connect("sqlite", "sqlite:" .. fs.join(dir, "tasks.db")))
    assert(conn:exec("CREATE TABLE t (task INTEGER, n INTEGER)"))
    local function worker(id)
      return function()
        assert(conn:transaction(function(tx)
          for n = 1, 200 do assert(tx:exec("INSERT INTO t VALUES (?, ?)", id, n)) end
        end))
        local sum = 0
        for row in conn:rows("SELECT n FROM t WHERE task = ?", id) do sum = sum + row.n end
        local rows = assert(conn:query("SELECT count(*) AS c FROM t WHERE task = ?", id))
        return sum, rows[1].c
      end
    end
    local results = runtime.parallel({ worker(1), worker(2), worker(3) })
    for i = 1, 3 do
      assert.same({ 200 * 201 / 2, 200 }, { results[i][1], results[i][2] })
    end
    -- Batches after the first are the first's list filled again: a short last one ends the loop.
    assert(conn:exec_many("INSERT INTO t VALUES (?, ?)", (function()
      local rows = {}
      for n = 1, 1300 do rows[n] = { 5, n } end
      return rows
    end)()))
    local streamed = runtime.parallel({ function()
      local count, sum, kept = 0, 0, {}
      for row in conn:rows("SELECT n FROM t WHERE task = 5 ORDER BY n") do
        count, sum = count + 1, sum + row.n
        kept[#kept + 1] = row
      end
      return count, sum, kept
    end })[1]
    assert.same({ 1300, 1300 * 1301 / 2 }, { streamed[1], streamed[2] })
    for n, row in ipairs(streamed[3]) do assert.equal(n, row.n) end
    local kept = {}
    for row in conn:rows("SELECT n FROM t WHERE task = 5 ORDER BY n") do kept[#kept + 1] = row end
    assert.equal(1300, #kept)
    for n, row in ipairs(kept) do assert.equal(n, row.n) end
    local undone = runtime.parallel({ function()
      return conn:transaction(function(tx)
        assert(tx:exec("INSERT INTO t VALUES (9, 9)"))
        error("undone")
      end)
    end })[1]
    assert.is_nil(undone[1])
    assert.matches("undone", tostring(undone[2]))
    assert.equal(0, assert(conn:query("SELECT count(*) AS c FROM t WHERE task = 9"))[1].c)
  end)

  it("runs a batch in tasks and in plain code, all rows or none", function()
    local conn = assert(db.connect("sqlite", "sqlite:" .. fs.join(dir, "batch.db")))
    assert(conn:exec("CREATE TABLE b (task INTEGER, n INTEGER, UNIQUE (task, n))"))
    local function rows_of(id, count)
      local rows = {}
      for n = 1, count do rows[n] = { id, n } end
      return rows
    end
    local results = runtime.parallel({
      function() return conn:exec_many("INSERT INTO b VALUES (?, ?)", rows_of(1, 300)) end,
      function()
        return conn:transaction(function(tx) return assert(tx:exec_many("INSERT INTO b VALUES (?, ?)", rows_of(2, 300))) end)
      end,
    })
    assert.same({ affected = 300, statements = 300 }, results[1][1])
    assert.same({ affected = 300, statements = 300 }, results[2][1])
    -- Row 250 repeats row 1: the batch leaves nothing, in a task and in plain code.
    local broken = rows_of(3, 300)
    broken[250] = { 3, 1 }
    local in_task = runtime.parallel({ function() return conn:exec_many("INSERT INTO b VALUES (?, ?)", broken) end })[1]
    assert.is_nil(in_task[1])
    assert.same({ "constraint", 250 }, { in_task[2].kind, in_task[2].details.row })
    local none, err = conn:exec_many("INSERT INTO b VALUES (?, ?)", broken)
    assert.is_nil(none)
    assert.matches("row 250 of the batch", err.message)
    assert.same({ 600, 0 }, {
      assert(conn:query("SELECT count(*) AS c FROM b"))[1].c,
      assert(conn:query("SELECT count(*) AS c FROM b WHERE task = 3"))[1].c,
    })
    assert.same({ affected = 0, statements = 0 }, assert(conn:exec_many("INSERT INTO b VALUES (?, ?)", {})))
    conn:close()
    local closed, cerr = conn:exec_many("INSERT INTO b VALUES (?, ?)", rows_of(4, 1))
    assert.is_nil(closed)
    assert.equal("invalid", cerr.kind)
  end)

  it("lets other tasks run while a statement waits for a database another process locked", function()
    local file = fs.join(dir, "locked.db")
    local held = fs.join(dir, "held")
    local conn = assert(db.connect("sqlite", "sqlite:" .. file, { timeout = 10 }))
    assert(conn:exec("CREATE TABLE t (n)"))
    -- Another process takes the write lock for a second.
    local command, script = lua.script(([[
      local db = require "essh.db"
      local conn = assert(db.connect("sqlite", "sqlite:%s"))
      local tx = assert(conn:transaction(function(tx)
        assert(tx:exec("INSERT INTO t VALUES (1)"))
        io.open(%q, "w"):close()
        require("essh.runtime").sleep(1)
      end))
    ]]):format(file, held))
    os.execute(command .. " >/dev/null 2>&1 &")
    local waited = 0
    while not fs.exists(held) and waited < 200 do
      runtime.sleep(0.05)
      waited = waited + 1
    end
    assert.is_true(fs.exists(held), "the other process took the lock")
    local ticks, inserted = 0, nil
    runtime.parallel({
      function()
        inserted = assert(conn:exec("INSERT INTO t VALUES (2)"))
      end,
      function()
        while inserted == nil and ticks < 400 do
          runtime.sleep(0.01)
          ticks = ticks + 1
        end
      end,
    })
    os.remove(script)
    assert.equal(1, inserted.affected)
    assert.is_true(ticks >= 20, "the other task ran while the insert waited (" .. ticks .. " ticks)")
    assert.equal(2, assert(conn:query("SELECT count(*) AS c FROM t"))[1].c)
  end)

  it("waits in plain code for a lock, then reports a timeout naming the database", function()
    local file = fs.join(dir, "timeout.db")
    local conn = assert(db.connect("sqlite", "sqlite:" .. file, { timeout = 0.2 }))
    assert(conn:exec("CREATE TABLE t (n)"))
    local holder = assert(db.connect("sqlite", "sqlite:" .. file))
    local _, err = holder:transaction(function(tx)
      assert(tx:exec("INSERT INTO t VALUES (1)"))
      local none, lock_err = conn:exec("INSERT INTO t VALUES (2)")
      assert.is_nil(none)
      error(lock_err)
    end)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.matches("database is locked", tostring(err))
    assert.matches("timeout%.db", tostring(err))
  end)
end)
