-- What does not depend on the ssh client, run on both: the native client and the system's
-- OpenSSH (ssh_backend = "openssh", one ControlMaster a host).
local config = require "essh.config"
local connection = require "essh.connection"
local runner = require "essh.runner"
local sshd = require "support.sshd"
local shell = require "support.shell"
local fs = require "essh.fs"

local capture = require "support.capture"

for _, backend in ipairs { "native", "openssh" } do
  describe("the " .. backend .. " ssh backend", function()
    local server, dsl, dir

    setup(function()
      require("essh.connection.ssh").ssh_config = false
      server = sshd.start()
      dir = fs.tempdir("essh-backends-")
      dsl = config.new()
      for _, name in ipairs { "web1", "web2" } do
        dsl.host(name, { HostName = "127.0.0.1", Port = server.port, User = server.user, ssh_backend = backend,
          IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts, tags = { "web" },
          IdentityAgent = "none" })
      end
      dsl.host("refused", { HostName = "127.0.0.1", Port = server.port, User = server.user, ssh_backend = backend,
        IdentityFile = server.keys .. "/id_unlisted", UserKnownHostsFile = server.known_hosts, IdentityAgent = "none" })
      dsl.host("unknown-key", { HostName = "127.0.0.1", Port = server.port, User = server.user, ssh_backend = backend,
        IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = dir .. "/empty_known_hosts",
        IdentityAgent = "none" })
      dsl.host("closed", { HostName = "127.0.0.1", Port = 1, User = server.user, ssh_backend = backend,
        IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts, IdentityAgent = "none" })
    end)

    teardown(function()
      require("essh.connection.ssh").ssh_config = nil
      server.stop()
      fs.remove(dir, { recursive = true })
    end)

    local function open(name)
      return assert(connection.open(dsl.registry:get("host", name)))
    end

    it("runs commands: output, exit status, stdin, environment and a terminal", function()
      local conn = open("web1")
      local r = assert(conn:exec("echo out; echo err >&2; exit 3"))
      assert.same({ "out\n", "err\n", 3, false }, { r.stdout, r.stderr, r.exitStatus, r.ok })
      assert.equal("fed\n", assert(conn:exec("cat", { stdin = "fed\n" })).stdout)
      assert.equal("a b|1\n", assert(conn:exec('echo "$ESSH_X|$ESSH_Y"', { env = { ESSH_X = "a b", ESSH_Y = "1" } })).stdout)
      assert.matches("^/dev/pts/", assert(conn:exec("tty", { pty = true })).stdout)
      local lines = {}
      assert(conn:exec("printf 'a\\nb\\n'", { on_stdout = function(line) lines[#lines + 1] = line end, lines = true }))
      assert.same({ "a", "b" }, lines)
      conn:close()
    end)

    it("reuses one connection for every command (OpenSSH: its ControlMaster)", function()
      local conn = open("web1")
      for _ = 1, 5 do assert.equal(0, conn:exec("true").exitStatus) end
      -- Connections closed by the tests before may take a moment to go.
      local established
      for _ = 1, 50 do
        established = tonumber(shell.must(("ss -Htn state established '( dport = :%d )' | wc -l"):format(server.port)))
        if established == 1 then break end
        shell.must("sleep 0.05")
      end
      assert.equal(1, established)
      conn:close()
    end)

    it("transfers files: modes kept or given, written whole", function()
      local conn = open("web1")
      local src = fs.join(dir, "src.sh")
      fs.write(src, "#!/bin/sh\necho hi\n", { mode = 493 })
      local remote = "/tmp/essh-backend-" .. backend .. "-" .. tostring(os.time())
      assert.equal(18, assert(conn:upload(src, remote)))
      assert.equal("755\nhi\n", assert(conn:exec(("stat -c %%a %s; %s"):format(remote, remote))).stdout)
      assert(conn:upload(src, remote, { mode = 384 }))
      assert.equal("600\n", assert(conn:exec("stat -c %a " .. remote)).stdout)
      local back = fs.join(dir, "back.sh")
      assert.equal(18, assert(conn:download(remote, back, { mode = 448 })))
      assert.equal("#!/bin/sh\necho hi\n", fs.read(back))
      assert.equal(448, fs.stat(back).mode % 4096)
      assert(conn:write(remote, "written\n", 420))
      local check = ("stat -c %%a %s; cat %s; rm -f %s"):format(remote, remote, remote)
      assert.equal("644\nwritten\n", assert(conn:exec(check)).stdout)
      conn:close()
    end)

    it("runs a task on its targets, with the same report", function()
      local t = dsl.task("t-" .. backend, { targets = "web", parallel = true,
        script = { "echo $ESSH_HOST_NAME", "exit 0" } })
      local out = capture()
      local report = runner.run(dsl.registry, t, { stdout = out, stderr = capture() })
      assert.is_true(report.ok)
      assert.same({ "[web1] web1", "[web2] web2" }, out:lines(true))
      assert.equal(0, report.hosts.web1.exitStatus)
    end)

    it("fails with the same kinds of error: auth, host_key, network", function()
      for name, kind in pairs { refused = "auth", ["unknown-key"] = "host_key", closed = "network" } do
        local conn, err = connection.open(dsl.registry:get("host", name))
        assert.is_nil(conn, name)
        assert.equal(kind, err.kind, name .. ": " .. tostring(err))
      end
    end)

    it("forwards a local port", function()
      local conn = open("web1")
      local port = shell.free_port()
      local f = assert(conn:forward(port, "127.0.0.1", server.port))
      local banner = shell.must(("nc -w 2 127.0.0.1 %d </dev/null | head -c 7"):format(port))
      assert.equal("SSH-2.0", banner)
      f:close()
      conn:close()
    end)
  end)
end
