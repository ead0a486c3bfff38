-- The row-at-a-time insert workload that bench/sqlx_inserts.lua and bench/db_pairs.lua time:
-- n inserts in one transaction into a fresh table, essh binding its parameters, LuaSQL
-- escaping and formatting them (it binds nothing).
local M = {}

-- Remakes the table through `exec(sql)`.
function M.prepare(exec)
  exec("DROP TABLE IF EXISTS bench")
  exec("CREATE TABLE bench (id BIGINT PRIMARY KEY, name VARCHAR(64), score DOUBLE PRECISION)")
end

-- n of essh's tx:exec on the essh connection `conn`, after remaking the table.
function M.essh(conn, n)
  M.prepare(function(sql) assert(conn:exec(sql)) end)
  assert(conn:transaction(function(tx)
    for i = 1, n do assert(tx:exec("INSERT INTO bench VALUES (?, ?, ?)", i, "it's " .. i, i / 3)) end
  end))
end

-- n of LuaSQL's formatted INSERTs on the LuaSQL connection `conn`, after remaking the table.
function M.luasql(conn, n)
  M.prepare(function(sql) assert(conn:execute(sql)) end)
  conn:setautocommit(false)
  for i = 1, n do
    assert(conn:execute(("INSERT INTO bench VALUES (%d, '%s', %.17g)"):format(i, conn:escape("it's " .. i), i / 3)))
  end
  conn:commit()
  conn:setautocommit(true)
end

return M
