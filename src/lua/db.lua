-- The Lua half of essh_native.db (see db/mod.rs): connect through an ssh session (`via`),
-- conn:rows (batches read as the loop goes) and conn:transaction (commit or roll back), and the
-- LuaSQL-shaped facade. The natives wait like every other primitive.
local native = ...
local connect, stream, next_batch, begin, index, parts = native.connect, native.stream, native.next_batch,
  native.begin, native.index, native.parts
local safe_pcall = native.pcall
local error, select, setmetatable, tostring, type, pairs = error, select, setmetatable, tostring, type, pairs
local unpack = table.unpack or unpack -- luacheck: ignore 143

local function pack(...) return { n = select("#", ...), ... } end

local M = { null = native.null }

-- Each tunnel lives as long as its connection.
local tunnels = setmetatable({}, { __mode = "k" })

-- A password as an essh.secret, when essh's Lua library is there.
local function hidden(text)
  local ok, secret = pcall(require, "essh.secret")
  if ok then return secret.new(text) end
  return text
end

function M.parse(driver, url)
  local p, err = parts(driver, url)
  if not p then return nil, err end
  if p.password then p.password = hidden(p.password) end
  return p
end

-- The ssh session `via` names: a session, or a task's connection or context.
local function session_of(via)
  if type(via) == "table" then
    if via.connection ~= nil then via = via.connection end
    if type(via) == "table" and via.session ~= nil then via = via.session end
  end
  local ok, forward = pcall(function() return via.forward_local end)
  if not ok or forward == nil then
    error("db.connect: via must be an ssh session, or a task's connection or context, got " .. type(via), 3)
  end
  return via
end

function M.connect(driver, url, options)
  if type(options) == "table" and options.via ~= nil and driver ~= "sqlite" then
    local session = session_of(options.via)
    local target, perr = parts(driver, url, true)
    if not target then return nil, perr end
    local forward, err = session:forward_local(0, target.host, target.port)
    if not forward then return nil, err end
    local own = {}
    for k, v in pairs(options) do own[k] = v end
    own.via, own.port = nil, forward.port
    local conn, cerr = connect(driver, url, own)
    if not conn then
      forward:close()
      return nil, cerr
    end
    tunnels[conn] = forward
    return conn
  end
  return connect(driver, url, options)
end

function index.rows(conn, sql, ...)
  local s, err = stream(conn, sql, ...)
  if not s then error(tostring(err), 2) end
  local batch, i, n = nil, 0, 0
  return function()
    if i >= n then
      local b, e = next_batch(s, batch)
      if e then error(tostring(e), 2) end
      if b == nil then return nil end
      batch, i, n = b, 0, #b
    end
    i = i + 1
    return batch[i]
  end
end

function index.transaction(conn, fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'transaction' (function expected, got " .. type(fn) .. ")", 2)
  end
  local tx, err = begin(conn)
  if not tx then return nil, err end
  local results = pack(safe_pcall(fn, tx))
  if results[1] then
    local ok, cerr = tx:commit()
    if not ok then return nil, cerr end
    if results.n <= 1 then return true end
    return unpack(results, 2, results.n)
  end
  tx:rollback()
  return nil, results[2]
end

-- LuaSQL's shape, for code brought from it: env = db.luasql.mysql(); conn = env:connect(...);
-- cur = conn:execute(sql); cur:fetch(t, "a"); conn:setautocommit(false), conn:commit().
-- Values keep essh's types; NULL is nil.
local ROWS = { select = true, with = true, show = true, pragma = true, explain = true, describe = true, values = true,
  table = true }

-- The first word of a statement, after blanks, comments and opening parentheses.
local function first_word(sql)
  local at = 1
  while true do
    local skipped = sql:match("^[%s(]+()", at) or sql:match("^%-%-[^\n]*()", at) or sql:match("^#[^\n]*()", at)
      or sql:match("^/%*.-%*/()", at)
    if not skipped then break end
    at = skipped
  end
  return (sql:match("^%a+", at) or ""):lower()
end

-- Whether LuaSQL's execute answers `sql` with a cursor: it reads rows (a query, or a change
-- that returns them).
local function reads_rows(sql)
  return ROWS[first_word(sql)] or sql:upper():find("%sRETURNING%s") ~= nil
end

-- LuaSQL's escape for each driver: mysql_real_escape_string's, PQescapeStringConn's (with
-- standard_conforming_strings, PostgreSQL's default) and sqlite3_mprintf("%q")'s.
local MYSQL_ESCAPES = { ["\0"] = "\\0", ["\n"] = "\\n", ["\r"] = "\\r", ["\\"] = "\\\\", ["'"] = "\\'",
  ['"'] = '\\"', ["\26"] = "\\Z" }
local function escape(driver, s)
  s = tostring(s)
  if driver == "mysql" then return (s:gsub("[%z\n\r\\'\"\26]", MYSQL_ESCAPES)) end
  return (s:gsub("'", "''"))
end

local function url_part(s) return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end)) end

local Cursor = {}
Cursor.__index = Cursor

function Cursor:fetch(t, mode)
  if self.closed then error("LuaSQL: cursor is closed", 2) end
  self.i = self.i + 1
  local row = self.rows[self.i]
  if row == nil then
    self.closed = true
    return nil
  end
  local out = t or {}
  local columns = self.rows.columns
  for j, name in ipairs(columns) do
    local v = row[name]
    if v == M.null then v = nil end
    if mode and mode:find("a") then out[name] = v end
    if not mode or mode:find("n") then out[j] = v end
  end
  if t then return t end
  local values = {}
  for j = 1, #columns do values[j] = out[j] end
  return unpack(values, 1, #columns)
end

function Cursor:getcolnames()
  local names = {}
  for i, n in ipairs(self.rows.columns) do names[i] = n end
  return names
end

function Cursor:numrows() return #self.rows end

function Cursor:close()
  local was = not self.closed
  self.closed = true
  return was
end

local LuaSQLConnection = {}
LuaSQLConnection.__index = LuaSQLConnection

function LuaSQLConnection:execute(sql)
  local on = self.tx or self.conn
  if reads_rows(sql) then
    local rows, err = on:query(sql)
    if not rows then return nil, tostring(err) end
    return setmetatable({ rows = rows, i = 0 }, Cursor)
  end
  local r, err = on:exec(sql)
  if not r then return nil, tostring(err) end
  return r.affected
end

function LuaSQLConnection:escape(s) return escape(self.driver, s) end

-- With autocommit off, statements run in a transaction that commit or rollback ends and the
-- next statement's begins, as LuaSQL's do. Turning it on ends the open one as LuaSQL's driver
-- does: MySQL commits it (the server's autocommit does), PostgreSQL and SQLite roll it back.
function LuaSQLConnection:setautocommit(on)
  if on and self.tx then
    self.autocommit = true
    local ok, err = self[self.driver == "mysql" and "commit" or "rollback"](self)
    if not ok then return nil, err end
  end
  self.autocommit = on and true or false
  if not on and not self.tx then return self:begin() end
  return true
end

function LuaSQLConnection:begin()
  local tx, err = begin(self.conn)
  if not tx then return nil, tostring(err) end
  self.tx = tx
  return true
end

-- Ends the open transaction (commit or roll back) and begins the next while autocommit is off.
local function finish(self, how)
  local tx = self.tx
  if not tx then return true end
  self.tx = nil
  local ok, err = tx[how](tx)
  if not ok then return nil, tostring(err) end
  if not self.autocommit then return self:begin() end
  return true
end

function LuaSQLConnection:commit() return finish(self, "commit") end
function LuaSQLConnection:rollback() return finish(self, "rollback") end

function LuaSQLConnection:close()
  if self.tx then
    self.autocommit = true
    finish(self, "rollback")
  end
  self.conn:close()
  return true
end

local function luasql_env(driver)
  return function()
    local env = {}
    function env.connect(_, source, user, password, host, port)
      local url
      if driver == "sqlite" then
        url = "sqlite:" .. source
      elseif tostring(source):find("=") then
        error("LuaSQL: give the database name, user, password, host and port, or use db.connect with a URL", 2)
      else
        url = ("%s://%s%s@%s:%d/%s"):format(driver, url_part(user or ""), password and (":" .. url_part(password)) or "",
          host or "127.0.0.1", port or (driver == "mysql" and 3306 or 5432), url_part(source))
      end
      local conn, err = M.connect(driver, url)
      if not conn then return nil, tostring(err) end
      return setmetatable({ conn = conn, driver = driver, autocommit = true }, LuaSQLConnection)
    end
    function env.close() return true end
    return env
  end
end

M.luasql = { mysql = luasql_env("mysql"), postgres = luasql_env("postgres"), sqlite3 = luasql_env("sqlite") }

return M
