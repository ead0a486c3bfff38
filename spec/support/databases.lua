--- Throwaway database servers for the db specs, on loopback ports, in /tmp/essh-db.* (stopped
--- by watchdogs however the run ends): PostgreSQL (initdb and postgres from
--- /usr/lib/postgresql/*/bin, as the postgres user, scram-sha-256 passwords) and MariaDB
--- (mariadb-install-db into a datadir, mariadbd as root). Each `start` returns { url, port,
--- user, password, database, dir, admin(sql), stop() }. `postgres { netns = name, tls = true }`
--- starts the server inside a network namespace (reachable only there) and with TLS (a CA of
--- its own: server.ca_file; the certificate names localhost and 127.0.0.1).
local shell = require "support.shell"

local M = {}

local function password()
  return (shell.must("head -c 18 /dev/urandom | base64 | tr '+/' 'xy'"):gsub("%s+$", ""))
end

local function wait_for(check, what, log)
  for _ = 1, 600 do
    if shell.sh(check) then return end
    shell.run("sleep 0.05")
  end
  local f = io.open(log)
  error(("support/databases: %s did not start: %s"):format(what, f and f:read("*a") or ""))
end

-- `server` with stop(): ends the server's watchdog and removes its directory.
local function with_stop(server, watchdog)
  function server.stop()
    watchdog:close()
    shell.run("rm -rf " .. server.dir)
  end
  return server
end

function M.postgres_bin()
  local dir = shell.run("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1"):gsub("%s+$", "")
  if dir ~= "" and shell.sh("test -x " .. dir .. "/initdb") then return dir end
end

function M.available(kind)
  if kind == "postgres" then return M.postgres_bin() ~= nil and shell.sh("id postgres >/dev/null 2>&1") end
  return shell.sh("command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null")
end

-- A CA and a certificate it signs for localhost and 127.0.0.1, in dir (ca.pem, server.pem/.key).
local function certificates(dir, owner)
  shell.must(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=essh-test-ca -keyout ca.key"
    .. " -out ca.pem 2>/dev/null && openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key"
    .. " -out server.csr 2>/dev/null && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext &&"
    .. " openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext"
    .. " -out server.pem 2>/dev/null && chmod 600 server.key && chown %s server.key server.pem"):format(dir, owner))
end

function M.postgres(options)
  options = options or {}
  local bin = assert(M.postgres_bin(), "support/databases: PostgreSQL is not installed (make deps)")
  local dir = shell.must("mktemp -d /tmp/essh-db.XXXXXX"):gsub("%s+$", "")
  local inside = options.netns and ("ip netns exec " .. options.netns .. " ") or ""
  local pw = password()
  local as_postgres = "setpriv --reuid=postgres --regid=postgres --init-groups "
  shell.must(("chown postgres %s && printf '%%s' %s > %s/pw && chown postgres %s/pw"):format(dir, pw, dir, dir))
  shell.must(("%s %s/initdb -D %s/data -U essh --auth=scram-sha-256 --pwfile=%s/pw -E UTF8 --locale=C.UTF-8"
    .. " >%s/initdb.log 2>&1"):format(as_postgres, bin, dir, dir, dir))
  local port = shell.free_port()
  local tls = ""
  if options.tls then
    certificates(dir, "postgres")
    tls = (" -c ssl=on -c ssl_cert_file=%s/server.pem -c ssl_key_file=%s/server.key"):format(dir, dir)
  end
  local watchdog = shell.watchdog(("exec %s%s %s/postgres -D %s/data -p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off%s"
    .. " >%s/log 2>&1"):format(inside, as_postgres, bin, dir, port, dir, tls, dir))
  wait_for(("%s%s/pg_isready -q -h 127.0.0.1 -p %d"):format(inside, bin, port), "PostgreSQL", dir .. "/log")
  local server = { dir = dir, port = port, user = "essh", password = pw, database = "essh",
    ca_file = options.tls and dir .. "/ca.pem" or nil }
  function server.admin(sql)
    return shell.must(("%senv PGPASSWORD=%s %s/psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p %d -U essh -d postgres -tA -c %s")
      :format(inside, pw, bin, port, shell.quote(sql)))
  end
  server.admin("CREATE DATABASE essh")
  server.url = ("postgres://essh:%s@127.0.0.1:%d/essh"):format(pw, port)
  return with_stop(server, watchdog)
end

function M.mariadb()
  local dir = shell.must("mktemp -d /tmp/essh-db.XXXXXX"):gsub("%s+$", "")
  local pw = password()
  shell.must(("mariadb-install-db --no-defaults --auth-root-authentication-method=socket --user=root --datadir=%s/data"
    .. " --skip-test-db >%s/install.log 2>&1"):format(dir, dir))
  local port = shell.free_port()
  local watchdog = shell.watchdog(("exec mariadbd --no-defaults --user=root --datadir=%s/data --socket=%s/sock --port=%d"
    .. " --bind-address=127.0.0.1 --skip-name-resolve --innodb-flush-log-at-trx-commit=0 --log-bin=%s/binlog"
    .. " --server-id=1 >%s/log 2>&1"):format(dir, dir, port, dir, dir))
  wait_for(("mariadb-admin --no-defaults --socket=%s/sock -uroot ping >/dev/null 2>&1"):format(dir), "MariaDB", dir .. "/log")
  local server = { dir = dir, port = port, user = "essh", password = pw, database = "essh", socket = dir .. "/sock" }
  function server.admin(sql)
    return shell.must(("mariadb --no-defaults --socket=%s/sock -uroot -N -B -e %s"):format(dir, shell.quote(sql)))
  end
  server.admin(("CREATE DATABASE essh CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    .. " CREATE USER 'essh'@'127.0.0.1' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'essh'@'127.0.0.1'"):format(pw))
  server.url = ("mysql://essh:%s@127.0.0.1:%d/essh"):format(pw, port)
  return with_stop(server, watchdog)
end

return M
