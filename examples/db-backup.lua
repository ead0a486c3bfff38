-- The seed's db-backup task, as a real backup runs it: a config for the essh command.
--
--   DB_URL=mysql://backup:pw@127.0.0.1:3306/shop BACKUP_HOST=db1 \
--     essh --config examples/db-backup.lua db-backup
--
-- DB_URL       mysql://... (MariaDB too) or postgres://..., the server as BACKUP_HOST sees it
-- BACKUP_HOST  the host (or tag) where the database lives, from your config: define it in
--              ~/.essh/config_override.lua, which essh loads beside this file, or copy the
--              task into your own .esshconfig.lua
-- BACKUP_TO    a local directory (default: ./backups), or s3://bucket/prefix
-- BACKUP_VERIFY  restore (default: a scratch database restored from the stored dump must hold
--              the row counts checked before the dump) or list (the dump's listing only; for
--              a database that writes while it is backed up)
--
-- The checks go through an ssh tunnel to the server (db.connect's via): version, row counts,
-- the binlog position or the WAL LSN, and the replica's lag. The dump is the database's own
-- tool, run on BACKUP_HOST (mariadb-dump --single-transaction --routines --triggers --events,
-- gzipped; pg_dump -Fc), streamed here as it comes with its sha256 computed on the way, and
-- stored with a .sha256 file beside it. The password reaches the tools in a 0600 file on the
-- host, never in their arguments, and the file is removed at the end.
local db = require "db"
local fs = require "fs"
local crypto = require "crypto"
local runtime = require "essh.runtime"
local quote = require("essh.shell").quote

local connectionString = os.getenv("DB_URL")
local destination = os.getenv("BACKUP_TO") or "backups"
local verify = os.getenv("BACKUP_VERIFY") or "restore"

-- A call's value, or its error raised as it is (Lua 5.1's assert takes only strings).
local function must(value, err)
  if value == nil or value == false then error(err ~= nil and err or "failed", 0) end
  return value
end

-- What a tool wrote to stderr, on one line.
local function said(r)
  return (r.stderr:gsub("%-%-%-+", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
end

-- Each driver: how to name a table in SQL, its checks, its dump and its restore.
local drivers = {}

drivers.mysql = {
  ident = function(name) return "`" .. name:gsub("`", "``") .. "`" end,
  tables = [[SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name]],
  extension = ".sql.gz",
  credentials = function(p)
    local function value(v) return '"' .. tostring(v):gsub("\\", "\\\\"):gsub('"', '\\"') .. '"' end
    return ("[client]\nuser=%s\npassword=%s\nhost=%s\nport=%d\n"):format(value(p.user), value(p.password:reveal()),
      value(p.host), p.port)
  end,
  position = function(conn)
    local rows = conn:query("SHOW BINLOG STATUS") or must(conn:query("SHOW MASTER STATUS"))
    local r = rows[1]
    return r and ("binlog %s:%s"):format(r.File, r.Position) or "binlog off"
  end,
  lag = function(conn)
    local rows = conn:query("SHOW REPLICA STATUS") or must(conn:query("SHOW SLAVE STATUS"))
    local r = rows[1]
    if not r then return "not a replica" end
    return ("%s s behind its primary"):format(tostring(r.Seconds_Behind_Master))
  end,
  dump = function(p, creds)
    return ("mariadb-dump --defaults-extra-file=%s --single-transaction --routines --triggers --events %s | gzip -c")
      :format(quote(creds), quote(p.database))
  end,
  check_here = function(t, path)
    local r = t:run_local("gzip -t " .. quote(path))
    if r.exitStatus ~= 0 then error("the dump is not a whole gzip file: " .. said(r)) end
  end,
  create = function(creds, name)
    return ("mariadb --defaults-extra-file=%s -e %s"):format(quote(creds), quote("CREATE DATABASE `" .. name .. "`"))
  end,
  restore = function(creds, name, file)
    return ("gunzip -c %s | mariadb --defaults-extra-file=%s %s"):format(quote(file), quote(creds), quote(name))
  end,
  drop = function(creds, name)
    return ("mariadb --defaults-extra-file=%s -e %s"):format(quote(creds), quote("DROP DATABASE IF EXISTS `" .. name .. "`"))
  end,
}

local function pg_env(creds) return "PGPASSFILE=" .. quote(creds) .. " " end
local function pg_where(p) return ("-h %s -p %d -U %s"):format(quote(p.host), p.port, quote(p.user)) end

drivers.postgres = {
  ident = function(name) return '"' .. name:gsub('"', '""') .. '"' end,
  tables = [[SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) AS name FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1]],
  quoted = true,
  extension = ".dump",
  credentials = function(p)
    local function field(v) return (tostring(v):gsub("[\\:]", "\\%0")) end
    return ("%s:%d:*:%s:%s\n"):format(field(p.host), p.port, field(p.user), field(p.password:reveal()))
  end,
  position = function(conn)
    local r = must(conn:query("SELECT pg_is_in_recovery() AS replica"))[1]
    local sql = r.replica and "SELECT pg_last_wal_replay_lsn()::text AS lsn" or "SELECT pg_current_wal_lsn()::text AS lsn"
    return "WAL " .. tostring(must(conn:query(sql))[1].lsn)
  end,
  lag = function(conn)
    local r = must(conn:query([[SELECT pg_is_in_recovery() AS replica,
      EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::text AS lag]]))[1]
    if not r.replica then return "not a replica" end
    return ("%s s behind its primary"):format(tostring(r.lag))
  end,
  dump = function(p, creds)
    return pg_env(creds) .. ("pg_dump -Fc %s -d %s"):format(pg_where(p), quote(p.database))
  end,
  check_there = function(t, remote, creds)
    local r = t:run(pg_env(creds) .. "pg_restore --list " .. quote(remote) .. " >/dev/null")
    if r.exitStatus ~= 0 then error("pg_restore cannot read the dump: " .. said(r)) end
  end,
  create = function(creds, name, p)
    return pg_env(creds) .. ("createdb %s %s"):format(pg_where(p), quote(name))
  end,
  restore = function(creds, name, file, p)
    return pg_env(creds) .. ("pg_restore --no-owner --exit-on-error %s -d %s %s"):format(pg_where(p), quote(name),
      quote(file))
  end,
  drop = function(creds, name, p)
    return pg_env(creds) .. ("dropdb --if-exists %s %s"):format(pg_where(p), quote(name))
  end,
}
drivers.mariadb, drivers.postgresql = drivers.mysql, drivers.postgres

-- The URL with another database.
local function with_database(url, name)
  local head, query = url:match("^(%a+://[^/]+)/?[^?]*(.*)$")
  return head .. "/" .. name .. query
end

-- Every table's row count, by name.
local function row_counts(conn, d)
  local counts = {}
  for _, row in ipairs(must(conn:query(d.tables))) do
    local name = row.name
    local sql = "SELECT COUNT(*) AS n FROM " .. (d.quoted and name or d.ident(name))
    counts[name] = tonumber(must(conn:query(sql))[1].n)
  end
  return counts
end

local function differences(want, got)
  local out = {}
  for name, n in pairs(want) do
    if got[name] ~= n then out[#out + 1] = ("%s: %d rows, restored %s"):format(name, n, tostring(got[name])) end
  end
  for name in pairs(got) do
    if want[name] == nil then out[#out + 1] = name .. ": restored, not in the source" end
  end
  table.sort(out)
  return out
end

-- Streams `command`'s output on the host into `path` here; its sha256.
local function stream_to(t, command, path)
  local file = must(io.open(path, "wb"))
  local hasher = crypto.hasher("sha256")
  local r = t:run(command, { on_stdout = function(chunk)
    file:write(chunk)
    hasher:update(chunk)
  end })
  file:close()
  if r.exitStatus ~= 0 then error("the dump failed: " .. said(r)) end
  return hasher:hex()
end

-- Stores the dump and its .sha256 at the destination; where they went.
local function store(local_path, name, digest)
  local sum = digest .. "  " .. name .. "\n"
  local bucket, prefix = destination:match("^s3://([^/]+)/?(.*)$")
  if bucket then
    local s3 = require("aws").s3
    local key = (prefix ~= "" and prefix:gsub("/?$", "/") or "") .. name
    must(s3:put(bucket, key, nil, { file = local_path }))
    must(s3:put(bucket, key .. ".sha256", sum))
    return "s3://" .. bucket .. "/" .. key
  end
  must(fs.mkdir(destination, { parents = true }))
  local final = destination .. "/" .. name
  must(os.rename(local_path, final))
  must(fs.write(final .. ".sha256", sum))
  return final
end

task "db-backup" {
  description = "check a database, dump it where it lives, store it with its sha256, verify the copy",
  targets = os.getenv("BACKUP_HOST") or "db",
  backend = "remote",
  script = function(t)
    if not connectionString then error("db-backup: set DB_URL to the database's connection string") end
    local driver = connectionString:match("^(%a+)://")
    local d = drivers[driver or ""]
    if not d then error("db-backup: DB_URL must start with mysql:// or postgres://") end
    local p = must(db.parse(driver, connectionString))
    if not p.password then error("db-backup: DB_URL must hold the password (the dump tools read it from a file)") end

    local conn = must(db.connect(driver, connectionString, { via = t }))
    local version = must(conn:query(driver:match("^post") and "SHOW server_version" or "SELECT VERSION() AS v"))[1]
    print(("%s: server %s, %s, %s"):format(t.host.name, version.v or version.server_version, d.position(conn),
      d.lag(conn)))
    local counts = row_counts(conn, d)
    local names = {}
    for name, n in pairs(counts) do names[#names + 1] = ("%s %d"):format(name, n) end
    table.sort(names)
    print(("%s: %d tables: %s"):format(t.host.name, #names, table.concat(names, ", ")))

    -- The host's temporary files: the credentials (0600) and the stored dump sent back to verify.
    local tmp = t:run("umask 077 && mktemp -d").stdout:match("[^\n]+")
    local creds, copy = tmp .. "/credentials", tmp .. "/dump"
    local name = ("%s-%s%s"):format(p.database, os.date("!%Y%m%dT%H%M%SZ"), d.extension)
    local here = os.tmpname()
    local ok, err = runtime.pcall(function()
      local w = t:run("umask 077 && cat > " .. quote(creds), { stdin = d.credentials(p) })
      if w.exitStatus ~= 0 then error("the credentials file: " .. said(w)) end
      local digest = stream_to(t, d.dump(p, creds), here)
      print(("%s: dumped %d bytes, sha256 %s"):format(t.host.name, fs.stat(here).size, digest))

      -- Verifies the bytes as stored: here (gzip -t), then on the host from a copy of them.
      if d.check_here then d.check_here(t, here) end
      t:upload(here, copy)
      local remote = t:run("sha256sum " .. quote(copy)).stdout:match("^%x+")
      if remote ~= digest then error("the copy on the host has another sha256: " .. tostring(remote)) end
      if d.check_there then d.check_there(t, copy, creds) end
      if verify == "restore" then
        local scratch = ("%s_essh_verify_%d"):format(p.database, os.time())
        local restored
        local rok, rerr = runtime.pcall(function()
          local c = t:run(d.create(creds, scratch, p))
          if c.exitStatus ~= 0 then error("the scratch database: " .. said(c)) end
          local r = t:run(d.restore(creds, scratch, copy, p))
          if r.exitStatus ~= 0 then error("the restore: " .. said(r)) end
          local check = must(db.connect(driver, with_database(connectionString, scratch), { via = t }))
          restored = row_counts(check, d)
          check:close()
        end)
        t:run(d.drop(creds, scratch, p))
        if not rok then error(rerr, 0) end
        local diff = differences(counts, restored)
        if #diff > 0 then error("the restored copy differs: " .. table.concat(diff, "; ")) end
        print(("%s: restored into %s: every row count matches"):format(t.host.name, scratch))
      end
      print(("%s: stored %s"):format(t.host.name, store(here, name, digest)))
    end)
    t:run("rm -rf " .. quote(tmp))
    os.remove(here)
    conn:close()
    if not ok then error(err, 0) end
  end,
}
