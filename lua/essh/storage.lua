--- essh.storage: state that outlives a run, in the way of Terraform's state backends: an
--- embedded SQLite file under ~/.essh/ by default (WAL, durable commits, mode 0600, safe for
--- several processes at once), a PostgreSQL database that a team shares
--- (`storage.open("postgres://...")`), or an S3 bucket written with conditional writes
--- (`storage.open("s3://bucket/prefix")`, storage/s3.lua). Values are anything json encodes.
---
--- `store:get(key)`, `store:set(key, value, { ttl = s })`, `store:delete(key)`,
--- `store:keys(prefix)`, `store:update(key, fn)` (an atomic read-modify-write, retried on
--- conflict), `store:history(key, n)` (the last values, with when and by whom), and
--- `store:lock(name, { ttl = 600, wait = 30 })`: a lease that is renewed while its holder runs
--- and expires after its TTL once the holder is gone.
---
--- Opening asks the `storage` permission for the store's name (and, as any code, `db` for the
--- database behind it).
local native = require "essh_native"

local M = {}

local json, fs, time_of = native.json, native.fs, native.time
local check = native.permissions.check
local runtime = native.runtime

local function home() return os.getenv("HOME") or "." end

local function whoami()
  local user = native.env.user() or "unknown"
  local f = io.open("/proc/sys/kernel/hostname")
  local machine = f and f:read("*l") or "localhost"
  if f then f:close() end
  local stat = io.open("/proc/self/stat")
  local pid = stat and tonumber(stat:read("*l"):match("^(%d+)")) or 0
  if stat then stat:close() end
  return { user = user, machine = machine, pid = pid }
end

local function now() return time_of.now() end

local SCHEMA = {
  sqlite = {
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    [[CREATE TABLE IF NOT EXISTS essh_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL,
      expires REAL, updated REAL NOT NULL, by_whom TEXT NOT NULL)]],
    [[CREATE TABLE IF NOT EXISTS essh_history (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT,
      at REAL NOT NULL, by_whom TEXT NOT NULL)]],
    "CREATE INDEX IF NOT EXISTS essh_history_key ON essh_history (key, id)",
    [[CREATE TABLE IF NOT EXISTS essh_locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL,
      expires REAL NOT NULL, since REAL NOT NULL)]],
  },
  postgres = {
    [[CREATE TABLE IF NOT EXISTS essh_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, version BIGINT NOT NULL,
      expires DOUBLE PRECISION, updated DOUBLE PRECISION NOT NULL, by_whom TEXT NOT NULL)]],
    [[CREATE TABLE IF NOT EXISTS essh_history (id BIGSERIAL PRIMARY KEY, key TEXT NOT NULL, value TEXT,
      at DOUBLE PRECISION NOT NULL, by_whom TEXT NOT NULL)]],
    "CREATE INDEX IF NOT EXISTS essh_history_key ON essh_history (key, id)",
    [[CREATE TABLE IF NOT EXISTS essh_locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, token TEXT NOT NULL,
      expires DOUBLE PRECISION NOT NULL, since DOUBLE PRECISION NOT NULL)]],
  },
}

local Store = {}
Store.__index = Store

local RELEASE = "DELETE FROM essh_locks WHERE name = ? AND token = ?"

-- The database's clock (seconds since the epoch), by which leases are taken, renewed and seen
-- to expire: one clock for every machine, however far apart their own clocks are.
local CLOCK = {
  sqlite = "((julianday('now') - 2440587.5) * 86400.0)",
  postgres = "extract(epoch from clock_timestamp())::float8",
}
local CLAIM, RENEW, GET, KEYS, READ, WRITE = {}, {}, {}, {}, {}, {}
for driver, clock in pairs(CLOCK) do
  -- A value lives until the database's clock passes its expires (NULL: for good).
  local live = ("(expires IS NULL OR expires > %s)"):format(clock)
  GET[driver] = "SELECT value FROM essh_kv WHERE key = ? AND " .. live
  -- Keys compared as text, not LIKE (which SQLite's ASCII letters match in either case).
  KEYS[driver] = "SELECT key FROM essh_kv WHERE substr(key, 1, length(?)) = ? AND " .. live
  READ[driver] = ("SELECT value, version, CASE WHEN %s THEN 1 ELSE 0 END AS live FROM essh_kv WHERE key = ?")
    :format(live)
  WRITE[driver] = ([[INSERT INTO essh_kv (key, value, version, expires, updated, by_whom) VALUES (?, ?, 1, %s + ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = essh_kv.version + 1,
      expires = excluded.expires, updated = excluded.updated, by_whom = excluded.by_whom]]):format(clock)
  CLAIM[driver] = ([[INSERT INTO essh_locks (name, holder, token, expires, since) VALUES (?, ?, ?, %s + ?, %s)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, expires = excluded.expires,
    since = excluded.since WHERE essh_locks.expires < %s]]):format(clock, clock, clock)
  RENEW[driver] = ("UPDATE essh_locks SET expires = %s + ? WHERE name = ? AND token = ?"):format(clock)
end

-- Leases whose handle was collected: the next call of this module deletes their rows. A
-- finalizer only marks and lists them: it runs inside whatever allocation set the collector
-- off, where neither the database nor the native module may be entered.
local orphans = {}

-- Deletes the rows of the collected handles' leases.
local function bury_orphans()
  if #orphans == 0 then return end
  local list = orphans
  orphans = {}
  for _, lease in ipairs(list) do lease.store:release_lease(lease.name, lease.token) end
end


-- Raises (at `level`, by default the caller's caller) on an option `what` does not take.
local function known(options, names, what, level)
  level = level or 3
  if options == nil then return end
  if type(options) ~= "table" then error(("%s: options must be a table, got %s"):format(what, type(options)), level) end
  for name in pairs(options) do
    local found = false
    for _, n in ipairs(names) do found = found or n == name end
    if not found then
      error(("%s: unknown option '%s' (known: %s)"):format(what, tostring(name), table.concat(names, ", ")), level)
    end
  end
end

--- Where a name or URL puts its store: (driver, url, the name the permission is asked for).
local function locate(name)
  if name == nil or name == "" then name = "default" end
  if name:match("^postgres") then
    return "postgres", name, (name:gsub("//[^@/]*@", "//"))
  end
  if name:match("^sqlite:") then return "sqlite", name, name end
  if not name:match("^[%w_%-%.]+$") then
    return nil, ("storage.open: '%s' is neither a store name (letters, digits, - _ .) nor a URL"):format(name)
  end
  local dir = home() .. "/.essh"
  return "sqlite", "sqlite:" .. dir .. "/" .. (name == "default" and "storage" or name) .. ".db", name, dir
end

--- Opens a store: its name (under ~/.essh/), `sqlite:path`, `postgres://...` or
--- `s3://bucket/prefix` (options.aws: the S3 client's aws.Options).
function M.open(name, options)
  if type(name) == "string" and name:match("^s3://") then
    known(options, { "timeout", "aws" }, "storage.open")
    local allowed, denied = check("storage", name, "storage.open")
    if not allowed then return nil, denied end
    return require("essh.storage.s3").open(name, options, json.encode(whoami()), M.shared)
  end
  known(options, { "timeout" }, "storage.open")
  local driver, url, resource, dir = locate(name)
  if not driver then return nil, native.error("invalid", url) end
  local allowed, denied = check("storage", resource, "storage.open")
  if not allowed then return nil, denied end
  if dir then
    local made, merr = fs.mkdir(dir, { parents = true, mode = 448 })
    if not made then return nil, merr end
    local path = url:sub(#"sqlite:" + 1)
    if not fs.exists(path) then
      local ok, err = fs.write(path, "", { mode = 384, atomic = false })
      if not ok then return nil, err end
    end
  end
  local conn, err = require("essh_native").db.connect(driver, url, { timeout = options and options.timeout or 30 })
  if not conn then return nil, err end
  local ok, serr
  if driver == "postgres" then
    -- CREATE TABLE IF NOT EXISTS races with itself in PostgreSQL: one creator at a time.
    ok, serr = conn:transaction(function(tx)
      assert(tx:query("SELECT pg_advisory_xact_lock(7317000001)"))
      for _, sql in ipairs(SCHEMA.postgres) do assert(tx:exec(sql)) end
    end)
  else
    for _, sql in ipairs(SCHEMA.sqlite) do
      ok, serr = conn:exec(sql)
      if not ok then break end
    end
  end
  if not ok then return nil, serr end
  return setmetatable({ conn = conn, driver = driver, name = resource, who = json.encode(whoami()) }, Store)
end

local function decode(text)
  if text == nil or text == native.db.null then return nil end
  return json.decode(text)
end

-- The checks of a store's arguments raise at the caller of the store's method: `level` counts
-- from the check (3 when the method calls it, 4 through one of the *_arguments below).

-- Raises unless `key` is a string (or, `optional`, nil).
local function check_key(key, what, level, optional)
  if type(key) ~= "string" and not (optional and key == nil) then
    error(("bad argument #1 to '%s' (string expected, got %s)"):format(what, type(key)), level)
  end
end

-- Raises unless `value` (option or argument `name`) is nil or a positive number, an integer
-- when `integer`; a finite one.
local function check_positive(value, what, name, integer, level)
  if value ~= nil and (type(value) ~= "number" or value ~= value or value <= 0 or value == math.huge
      or (integer and value % 1 ~= 0)) then
    error(("%s: %s must be a positive %s, got %s"):format(what, name, integer and "integer" or "number",
      tostring(value)), level)
  end
end

function Store:get(key)
  check_key(key, "store:get", 3)
  bury_orphans()
  local rows, err = self.conn:query(GET[self.driver], key)
  if not rows then return nil, err end
  return rows[1] and decode(rows[1].value)
end

local function encode(value, level)
  local text, err = json.encode(value)
  if not text then error("storage: the value cannot be stored: " .. tostring(err), level) end
  return text
end

-- Writes `text` (nil: deletes) for key inside `tx`, living `ttl` seconds (nil: for good), with
-- its history line; `keep` prunes the key's history to its newest lines.
local function write(self, tx, key, text, ttl, keep)
  local t = now()
  if text == nil then
    assert(tx:exec("DELETE FROM essh_kv WHERE key = ?", key))
  else
    assert(tx:exec(WRITE[self.driver], key, text, ttl or native.db.null, t, self.who))
  end
  assert(tx:exec("INSERT INTO essh_history (key, value, at, by_whom) VALUES (?, ?, ?, ?)",
    key, text or native.db.null, t, self.who))
  if keep then
    assert(tx:exec([[DELETE FROM essh_history WHERE key = ? AND id NOT IN
      (SELECT id FROM essh_history WHERE key = ? ORDER BY id DESC LIMIT ?)]], key, key, keep))
  end
end

-- set's value as text, the seconds it lives and how many history lines stay (or raises).
local function set_arguments(key, value, options)
  check_key(key, "store:set", 4)
  if value == nil then
    error("bad argument #2 to 'store:set' (a value expected, got nil; store:delete removes a key)", 3)
  end
  local text = encode(value, 4)
  known(options, { "ttl", "keep" }, "store:set", 4)
  local ttl, keep = options and options.ttl, options and options.keep
  check_positive(ttl, "store:set", "ttl", false, 4)
  check_positive(keep, "store:set", "keep", true, 4)
  return text, ttl, keep
end

-- update's attempts (or raises).
local function update_arguments(key, fn, options)
  check_key(key, "store:update", 4)
  if type(fn) ~= "function" then
    error(("bad argument #2 to 'store:update' (function expected, got %s)"):format(type(fn)), 3)
  end
  known(options, { "attempts" }, "store:update", 4)
  local attempts = options and options.attempts
  check_positive(attempts, "store:update", "attempts", true, 4)
  return attempts or 100
end

-- history's count of lines (or raises).
local function history_arguments(key, n)
  check_key(key, "store:history", 4)
  check_positive(n, "store:history", "n", true, 4)
  return n or 10
end

--- Sets key to value. Options: ttl (seconds it lives), keep (how many of its history lines stay).
function Store:set(key, value, options)
  local text, ttl, keep = set_arguments(key, value, options)
  bury_orphans()
  return self.conn:transaction(function(tx) write(self, tx, key, text, ttl, keep) end)
end

function Store:delete(key)
  check_key(key, "store:delete", 3)
  bury_orphans()
  return self.conn:transaction(function(tx) write(self, tx, key, nil) end)
end

function Store:keys(prefix)
  check_key(prefix, "store:keys", 3, true)
  bury_orphans()
  prefix = prefix or ""
  local rows, err = self.conn:query(KEYS[self.driver], prefix, prefix)
  if not rows then return nil, err end
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.key end
  -- In byte order, whatever collation a PostgreSQL database has.
  table.sort(out)
  return out
end

--- Reads, calls fn(old) and writes what it returns (nil deletes), as one atomic step: a
--- concurrent writer makes it read and call fn again. Returns the new value.
function Store:update(key, fn, options)
  local attempts = update_arguments(key, fn, options)
  bury_orphans()
  for attempt = 1, attempts do
    local rows, err = self.conn:query(READ[self.driver], key)
    if not rows then return nil, err end
    local row = rows[1]
    local old = row and row.live == 1 and decode(row.value) or nil
    local new = fn(old)
    local text = new ~= nil and encode(new, 3) or nil
    local done, werr = self.conn:transaction(function(tx)
      local r
      if row then
        if text == nil then
          r = assert(tx:exec("DELETE FROM essh_kv WHERE key = ? AND version = ?", key, row.version))
        else
          r = assert(tx:exec("UPDATE essh_kv SET value = ?, version = version + 1, expires = NULL, updated = ?,"
            .. " by_whom = ? WHERE key = ? AND version = ?", text, now(), self.who, key, row.version))
        end
      elseif text ~= nil then
        r = assert(tx:exec([[INSERT INTO essh_kv (key, value, version, expires, updated, by_whom)
          VALUES (?, ?, 1, NULL, ?, ?) ON CONFLICT (key) DO NOTHING]], key, text, now(), self.who))
      else
        return true
      end
      if r.affected == 0 then return false end
      assert(tx:exec("INSERT INTO essh_history (key, value, at, by_whom) VALUES (?, ?, ?, ?)",
        key, text or native.db.null, now(), self.who))
      return true
    end)
    if done then return new end
    if done == nil and werr and werr.kind ~= "constraint" and not werr.retryable
      and not tostring(werr):find("locked") and not tostring(werr):find("could not serialize") then
      return nil, werr
    end
    runtime.sleep(math.random() * 0.01 * attempt)
  end
  return nil, native.error("timeout", ("storage: %s changed under every one of %d attempts"):format(key, attempts))
end

--- The last n values of key, newest first: { value, at, by = { user, machine, pid } }.
function Store:history(key, n)
  n = history_arguments(key, n)
  local rows, err = self.conn:query(
    "SELECT value, at, by_whom FROM essh_history WHERE key = ? ORDER BY id DESC LIMIT ?", key, n)
  if not rows then return nil, err end
  local out = {}
  for i, r in ipairs(rows) do out[i] = { value = decode(r.value), at = r.at, by = json.decode(r.by_whom) } end
  return out
end

local Lock = {}
Lock.__index = Lock

-- The leases this process holds, by handle: released at exit (M.release_all).
local held = setmetatable({}, { __mode = "k" })

function Lock:release()
  local lease = self.lease
  held[self] = nil
  if lease.released then return true end
  lease.released = true
  if lease.renewer then lease.renewer:cancel() end
  local r, err = lease.store:release_lease(lease.name, lease.token)
  if not r then return nil, err end
  return true
end
Lock.__close = function(self) self:release() end

local function abandon(lease)
  if lease.released then return end
  lease.released = true
  orphans[#orphans + 1] = lease
end
Lock.__gc = function(self) abandon(self.lease) end

local function new_lock(store, name, token, ttl)
  local lease = { store = store, name = name, token = token }
  local lock = setmetatable({ name = name, ttl = ttl, lease = lease }, Lock)
  if newproxy then -- Lua 5.1 and LuaJIT call __gc on userdata only
    local sentinel = newproxy(true)
    getmetatable(sentinel).__gc = function() abandon(lease) end
    lock.sentinel = sentinel
  end
  -- The renewer sees the lease, not the handle, which stays collectable.
  lease.renewer = runtime.spawn(function()
    while not lease.released do
      runtime.sleep(ttl / 3)
      if lease.released then break end
      store:renew_lease(name, token, ttl)
    end
  end)
  held[lock] = true
  return lock
end

--- Releases every lock this process still holds: essh.main calls it before it returns.
-- What another backend (storage/s3.lua) shares with this one: its handles' methods (lock) and helpers.
M.shared = {
  Store = Store, encode = encode, decode = decode, now = now,
  set_arguments = set_arguments, update_arguments = update_arguments, history_arguments = history_arguments,
  check_key = check_key, bury_orphans = function() bury_orphans() end,
}

function M.release_all()
  bury_orphans()
  local handles = {}
  for lock in pairs(held) do handles[#handles + 1] = lock end
  for _, lock in ipairs(handles) do lock:release() end
end

--- Takes the lock `name`: a handle (`:release()`, `<close>`, released when collected and when
--- essh.main returns), or nil and an error naming its holder once `wait` seconds have passed.
--- The lease lasts `ttl` seconds and is renewed while the program runs; a holder that dies
--- loses it when the lease ends.
function Store:lock(name, options)
  check_key(name, "store:lock", 3)
  known(options, { "ttl", "wait" }, "store:lock")
  local ttl, wait = options and options.ttl, options and options.wait
  check_positive(ttl, "store:lock", "ttl", false, 3)
  if wait ~= nil and (type(wait) ~= "number" or wait ~= wait or wait < 0 or wait == math.huge) then
    error("store:lock: wait must be a number of seconds, 0 or more, got " .. tostring(wait), 2)
  end
  ttl, wait = ttl or 600, wait or 30
  bury_orphans()
  local token = native.base64.encode(native.crypto.random_bytes(16))
  local deadline = runtime.monotonic() + wait
  while true do
    local taken, held_by = self:claim(name, token, ttl)
    if taken == nil then return nil, held_by end
    if taken then return new_lock(self, name, token, ttl) end
    if runtime.monotonic() >= deadline then
      local holder = held_by and json.decode(held_by.holder) or {}
      return nil, native.error("already_exists", ("storage: the lock %s is held by %s@%s (pid %s) since %s"):format(
        name, tostring(holder.user), tostring(holder.machine), tostring(holder.pid),
        held_by and time_of.format(held_by.since, "!%Y-%m-%dT%H:%M:%SZ") or "?"))
    end
    runtime.sleep(math.min(0.25, math.max(0, deadline - runtime.monotonic())))
  end
end

-- The lease `name` for `token` when it is free or expired: true; false and its holder's row
-- ({ holder, since }) while another holds it; nil and an error.
function Store:claim(name, token, ttl)
  local r, err = self.conn:exec(CLAIM[self.driver], name, self.who, token, ttl)
  if not r then return nil, err end
  if r.affected == 1 then return true end
  local rows = self.conn:query("SELECT holder, since FROM essh_locks WHERE name = ?", name)
  return false, rows and rows[1]
end

function Store:renew_lease(name, token, ttl)
  return self.conn:exec(RENEW[self.driver], ttl, name, token)
end

function Store:release_lease(name, token)
  return self.conn:exec(RELEASE, name, token)
end

function Store:close() self.conn:close() end

return M
