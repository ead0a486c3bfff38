-- The select workload that bench/db.lua and bench/db_pairs.lua time: every row `sql` returns
-- (`n` of them) read through essh's rows loop, or fetched by LuaSQL into one reused table.
local M = {}

function M.essh(conn, sql, n)
  local count = 0
  for _ in conn:rows(sql) do count = count + 1 end
  assert(count == n)
end

function M.luasql(conn, sql, n)
  local cur = assert(conn:execute(sql))
  local count, row = 0, {}
  while cur:fetch(row, "a") do count = count + 1 end
  cur:close()
  assert(count == n)
end

return M
