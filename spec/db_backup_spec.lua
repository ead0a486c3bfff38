-- The seed's db-backup task against a MariaDB and a PostgreSQL the spec starts, with the dump
-- tools run over ssh on the "database host" (the spec's sshd): the seed's lines as written, and
-- examples/db-backup.lua (checks, mariadb-dump | gzip and pg_dump -Fc streamed here with their
-- sha256, gzip -t / pg_restore --list, a scratch restore whose row counts match), to a directory
-- and to S3 (moto). Lua 5.4 in CI (ESSH_HEAVY_SPECS=1 anywhere).
local databases = require "support.databases"
local sshd = require "support.sshd"
local aws_emulator = require "support.aws"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"

local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"

describe("the db-backup task", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the db-backup spec runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local maria, pg, server, home, dir
  local EXAMPLE = fs.abspath("examples/db-backup.lua")

  setup(function()
    maria, pg, server = databases.mariadb(), databases.postgres(), sshd.start()
    home, dir = assert(fs.tempdir()), assert(fs.tempdir())
    shell.must("chmod 755 " .. home)
    assert(fs.mkdir(home .. "/.essh", { parents = true, mode = 448 }))
    assert(fs.write(home .. "/.essh/config_override.lua", ([[
host "db1" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q, tags = { "db" } }
]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts)))
    maria.admin([[
      USE essh;
      CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64) CHARACTER SET utf8mb4, price DECIMAL(10,2), data BLOB);
      CREATE TABLE `odd ``name` (k VARCHAR(8));
      INSERT INTO `odd ``name` VALUES ('a'), ('b');
      CREATE TABLE audit (item INT);
      CREATE TRIGGER item_added AFTER INSERT ON items FOR EACH ROW INSERT INTO audit VALUES (NEW.id);
      CREATE PROCEDURE item_count() SELECT COUNT(*) FROM items;
      INSERT INTO items SELECT seq, CONCAT('item ', seq, ' é'), seq / 4, UNHEX('00FF') FROM seq_1_to_2500;]])
    shell.must(("PGPASSWORD=%s %s/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d -U essh -d essh -c %s")
      :format(pg.password, databases.postgres_bin(), pg.port, shell.quote([[
        CREATE SCHEMA app;
        CREATE TABLE app.orders (id BIGINT PRIMARY KEY, note TEXT, made TIMESTAMPTZ DEFAULT now());
        INSERT INTO app.orders (id, note) SELECT g, 'order ' || g FROM generate_series(1, 1500) g;
        CREATE TABLE public."Mixed Case" (v INT); INSERT INTO public."Mixed Case" VALUES (1), (2), (3);]])))
  end)

  teardown(function()
    if maria then maria.stop() end
    if pg then pg.stop() end
    if server then server.stop() end
    shell.run("rm -rf " .. (home or "/nonexistent") .. " " .. (dir or "/nonexistent"))
  end)

  -- Runs `essh --config config db-backup` (the command's main, in a child) with `env` (a
  -- table); output and status.
  local function essh(config, env, extra)
    local vars = { ("HOME=%s"):format(home), "ESSH_TRUST_ALL=1", "ESSH_HISTORY=off" }
    for k, v in pairs(env) do vars[#vars + 1] = ("%s=%s"):format(k, shell.quote(v)) end
    local command, path = lua.script(([[
os.exit(require("essh.cli").main({ [0] = "essh", "--config", %q%s, "db-backup" }))
]]):format(config, extra or ""))
    local out, status = shell.run(("cd %s && env %s %s 2>&1"):format(dir, table.concat(vars, " "), command))
    os.remove(path)
    return out, status
  end

  it("runs the seed's lines as written: db.connect reaches the server", function()
    local config = dir .. "/seed.lua"
    assert(fs.write(config, ("connectionString = %q\n"):format(maria.url) .. [[
local db = require "db"
task "db-backup" {
    script = function()
        local conn = db.connect("mysql", connectionString)
        -- Perform backup
    end
}
]]))
    local audit = dir .. "/audit.jsonl"
    local out, status = essh(config, {}, (", %q, %q"):format("--audit", audit))
    assert.are.equal(0, status, out)
    local reached
    for line in assert(fs.read(audit)):gmatch("[^\n]+") do
      local d = json.decode(line)
      if d.permission == "db" and d.allowed then reached = d.resource end
    end
    assert.are.equal(("mysql://127.0.0.1:%d/essh"):format(maria.port), reached)
    assert.not_matches(maria.password, out, 1, true)
  end)

  it("backs MariaDB up to a directory: checks, a gzipped dump with its sha256, a restore that matches", function()
    local to = dir .. "/maria"
    local out, status = essh(EXAMPLE, { DB_URL = maria.url, BACKUP_HOST = "db1", BACKUP_TO = to })
    assert.are.equal(0, status, out)
    assert.matches("db1: server %d+%.%d+%.%d+%-MariaDB[^,]*, binlog binlog%.%d+:%d+, not a replica", out)
    assert.matches("db1: 3 tables: audit 2500, items 2500, odd `name 2\n", out, 1, true)
    assert.matches("db1: restored into essh_essh_verify_%d+: every row count matches", out)
    assert.not_matches(maria.password, out, 1, true)
    local files = fs.glob(to .. "/essh-*.sql.gz")
    assert.are.equal(1, #files)
    assert.matches("stored " .. files[1]:gsub("%p", "%%%0"), out)
    shell.must(("cd %s && sha256sum -c --quiet %s.sha256"):format(to, fs.basename(files[1])))
    shell.must("gzip -t " .. files[1])
    local dump = shell.must("gunzip -c " .. files[1])
    assert.matches("CREATE TABLE `items`", dump, 1, true)
    assert.matches("item_added", dump, 1, true)
    assert.matches("PROCEDURE `item_count`", dump, 1, true)
    assert.not_matches("CREATE DATABASE", dump, 1, true)
    -- The scratch database is gone, and so are the host's temporary files.
    assert.not_matches("verify", maria.admin("SHOW DATABASES"))
    assert.are.equal("", shell.run("grep -rl " .. shell.quote(maria.password) .. " /tmp/tmp.* 2>/dev/null"))
  end)

  it("backs PostgreSQL up to S3 with pg_dump -Fc, listed and restored", function()
    if not aws_emulator.available() then
      pending("moto is not installed in build/venv (make deps)")
      return
    end
    local moto = aws_emulator.start(0)
    local ok, err = pcall(function()
      local aws = require "essh.aws"
      local s3 = assert(aws.client("s3", { endpoint = moto.endpoint, region = "us-east-1", credentials = moto.credentials }))
      assert(s3:createBucket("backups"))
      local out, status = essh(EXAMPLE, { DB_URL = pg.url, BACKUP_HOST = "db", BACKUP_TO = "s3://backups/nightly",
        AWS_ENDPOINT_URL = moto.endpoint, AWS_ACCESS_KEY_ID = moto.access_key, AWS_SECRET_ACCESS_KEY = moto.secret_key,
        AWS_REGION = "us-east-1" })
      assert.are.equal(0, status, out)
      assert.matches("db1: server %d+[%.%d]*[^,]*, WAL %x+/%x+, not a replica", out)
      assert.matches('db1: 2 tables: app.orders 1500, public."Mixed Case" 3\n', out, 1, true)
      assert.matches("every row count matches", out)
      local listed = assert(s3:list("backups", { prefix = "nightly/" }))
      local keys = {}
      for _, o in ipairs(listed) do keys[#keys + 1] = o.Key end
      table.sort(keys)
      assert.are.equal(2, #keys)
      assert.matches("^nightly/essh%-%d+T%d+Z%.dump$", keys[1])
      assert.are.equal(keys[1] .. ".sha256", keys[2])
      local path = dir .. "/pg.dump"
      assert(s3:get("backups", keys[1], { file = path }))
      local sum = assert(s3:get("backups", keys[2]))
      assert.are.equal(require("essh.crypto").file_digest(path, "sha256"), sum:match("^%x+"))
      assert.are.equal(fs.basename(keys[1]), sum:match("^%x+  (%S+)\n$"))
      local listing = shell.must(("%s/pg_restore --list %s"):format(databases.postgres_bin(), path))
      assert.matches("TABLE DATA app orders", listing, 1, true)
      assert.not_matches("verify", pg.admin("SELECT string_agg(datname, ' ') FROM pg_database"))
    end)
    moto.stop()
    if not ok then error(err, 0) end
  end)

  it("stops with the dump tool's words when the database refuses, and stores nothing", function()
    local to = dir .. "/refused"
    local wrong = maria.url:gsub(":" .. maria.password .. "@", ":wrong-password@")
    local out, status = essh(EXAMPLE, { DB_URL = wrong, BACKUP_HOST = "db1", BACKUP_TO = to })
    assert.are.equal(1, status, out)
    assert.matches("Access denied for user 'essh'", out, 1, true)
    assert.not_matches("wrong%-password", out)
    assert.is_nil(fs.exists(to) or nil)
  end)
end)
