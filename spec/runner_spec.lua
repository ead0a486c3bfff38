local config = require "essh.config"
local runtime = require "essh.runtime"
local runner = require "essh.runner"
local sshd = require "support.sshd"
local fs = require "essh.fs"

-- A writer that keeps what is written, line by line.
local capture = require "support.capture"

describe("essh.runner", function()
  local server, dsl

  setup(function()
    server = sshd.start()
    dsl = config.new()
    local function alias(name, tags)
      return dsl.host(name, {
        HostName = "127.0.0.1", Port = server.port, User = server.user,
        IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts, tags = tags,
        props = { role = name },
      })
    end
    alias("web1", { "web" })
    alias("web2", { "web" })
    alias("db1", { "db" })
    dsl.host("down", { HostName = "127.0.0.1", Port = 1, User = server.user, tags = { "broken" },
      IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts })
  end)

  teardown(function() server.stop() end)

  it("runs a script on every target, over stdin, with essh's variables, prefixed per host", function()
    local t = dsl.task("vars", { backend = "remote", targets = "web", parallel = true, props = { stage = "prod" },
      script = { "echo $ESSH_TASK_NAME $ESSH_HOST_NAME $ESSH_HOST_TAGS_WEB $ESSH_HOST_PROPS_ROLE $ESSH_TASK_PROPS_STAGE",
        "echo to-stderr >&2" } })
    local out, err = capture(), capture()
    local report = runner.run(dsl.registry, t, { stdout = out, stderr = err })
    assert.is_true(report.ok)
    local lines = out:lines()
    table.sort(lines)
    assert.same({ "[web1] vars web1 1 web1 prod", "[web2] vars web2 1 web2 prod" }, lines)
    assert.equal(2, #err:lines())
    assert.equal(0, report.hosts.web1.exitStatus)
    assert.equal(0, runner.exit_code(report))
  end)

  it("keeps lines whole when hosts print long lines at once", function()
    local t = dsl.task("long", { backend = "remote", targets = { "web", "db" }, parallel = true,
      script = "for i in 1 2 3 4 5; do head -c 20000 /dev/zero | tr '\\0' x; echo; done" })
    local out = capture()
    runner.run(dsl.registry, t, { stdout = out })
    local lines = out:lines()
    assert.equal(15, #lines)
    for _, line in ipairs(lines) do assert.matches("^%[%w+%]%s+x+$", line) end
  end)

  it("runs with set -e: the first failing command fails the host, and abort starts no new hosts", function()
    local t = dsl.task("fail", { backend = "remote", targets = { "web", "db" }, parallel = 1,
      script = "false\necho not-reached" })
    local out = capture()
    local report = runner.run(dsl.registry, t, { stdout = out, stderr = capture() })
    assert.is_false(report.ok)
    assert.same({ "db1" }, report.failed)                -- hosts run in name order, as in essh v3
    assert.same({ "web1", "web2" }, report.skipped)
    assert.equal("", out:text())
    assert.equal(1, runner.exit_code(report))
    report = runner.run(dsl.registry, t, { on_failure = "continue", stdout = capture(), stderr = capture() })
    assert.equal(3, #report.failed)
  end)

  it("reports an unreachable host apart from failed ones", function()
    local t = dsl.task("reach", { backend = "remote", targets = { "web1", "broken" }, parallel = true, script = "true" })
    local report = runner.run(dsl.registry, t, { stdout = capture(), stderr = capture() })
    assert.same({ "down" }, report.unreachable)
    assert.equal("ok", report.hosts.web1.status)
    assert.equal("network", report.hosts.down.error.kind)
    assert.equal(3, runner.exit_code(report))
  end)

  it("applies a Host block of ~/.ssh/config to the DSL host of that name, as OpenSSH matches the alias", function()
    local env = require "essh.env"
    local home = assert(fs.tempdir("essh-home"))
    assert(fs.mkdir(home .. "/.ssh"))
    assert(fs.write(home .. "/.ssh/config", ("Host viaconfig\n  Port %d\n  User %s\n  IdentityFile %s\n"
      .. "  UserKnownHostsFile %s\nHost 127.0.0.1\n  Port 1\n"):format(server.port, server.user,
      server.keys .. "/id_ed25519", server.known_hosts)))
    local d = config.new()
    d.host("viaconfig", { HostName = "127.0.0.1" })
    local saved = env.get("HOME")
    env.set("HOME", home)
    local out = capture()
    local ok, report = pcall(runner.run, d.registry, d.task("alias", { backend = "remote", targets = "viaconfig",
      script = "echo $ESSH_HOSTNAME $ESSH_HOST_SSH_HOSTNAME" }), { stdout = out, stderr = capture() })
    env.set("HOME", saved)
    fs.remove(home, { recursive = true })
    assert.is_true(ok, tostring(report))
    assert.is_true(report.ok, tostring(report.hosts.viaconfig.error))
    assert.equal("viaconfig 127.0.0.1\n", out:text())
  end)

  it("names the DSL host, not its address, when the connection fails", function()
    local report = runner.run(dsl.registry, dsl.task("named", { backend = "remote", targets = "down", script = "true" }),
      { stdout = capture(), stderr = capture() })
    local message = tostring(report.hosts.down.error)
    assert.matches("%[down%]:1", message)
    assert.not_matches("127%.0%.0%.1", message)
  end)

  it("runs a Lua script function with task:run on the host, as the seed's deploy does", function()
    local seen = {}
    local t = dsl.task("deploy", { backend = "remote", targets = "db1", script = function(task)
      local result = task:run("echo pulled; exit 0")
      if result.exitStatus ~= 0 then error("Failed to pull latest code: " .. result.stderr) end
      seen[#seen + 1] = task.host.name .. ":" .. result.stdout
    end })
    local report = runner.run(dsl.registry, t)
    assert.is_true(report.ok)
    assert.same({ "db1:pulled\n" }, seen)
  end)

  it("aborts when prepare returns false or raises", function()
    local t = dsl.task("prep", { backend = "remote", targets = "web1", prepare = function(task)
      local check = task:run("which definitely-not-installed-git")
      if check.exitStatus ~= 0 then error("Git is not installed on the system") end
    end, script = "echo never" })
    local report = runner.run(dsl.registry, t, { stdout = capture() })
    assert.is_false(report.ok)
    assert.matches("Git is not installed on the system", report.error)
  end)

  it("runs local tasks on this machine", function()
    local t = dsl.task("here", { script = "echo local $ESSH_HOST_NAME" })
    local out = capture()
    local report = runner.run(dsl.registry, t, { stdout = out })
    assert.is_true(report.ok)
    assert.equal("local localhost\n", out:text())
  end)

  it("prints what would run with dry_run, connecting to nothing", function()
    local t = dsl.task("dry", { backend = "remote", targets = { "web1", "broken" }, script = "rm -rf /tmp/nothing" })
    local out = capture()
    local report = runner.run(dsl.registry, t, { dry_run = true, stdout = out })
    assert.is_true(report.ok)
    assert.matches("%[down%]%s+rm %-rf /tmp/nothing", out:text())
    assert.matches("%[web1%]%s+export ESSH_HOST_NAME=web1", out:text())
  end)

  it("renders scripts through a custom driver", function()
    dsl.driver("loud", { template = "echo driver {{ host.name }}\n{{ script }}" })
    local t = dsl.task("driven", { backend = "remote", targets = "web1", driver = "loud", script = "echo body" })
    local out = capture()
    runner.run(dsl.registry, t, { stdout = out })
    assert.equal("driver web1\nbody\n", out:text())
  end)

  it("uploads and renders templates to the host", function()
    local dir = assert(fs.tempdir())
    os.execute("chmod 777 " .. dir)
    local tpl = fs.join(dir, "motd.tpl")
    fs.write(tpl, "Welcome to {{ host.name }} ({{ role }})\n")
    local t = dsl.task("files", { backend = "remote", targets = "web2", script = function(task)
      task:template(tpl, fs.join(dir, "motd"), { role = "frontend" })
    end })
    assert.is_true(runner.run(dsl.registry, t).ok)
    assert.equal("Welcome to web2 (frontend)\n", fs.read(fs.join(dir, "motd")))
    fs.remove(dir, { recursive = true })
  end)

  it("runs host hooks around a task's connection when the host asks: local before and after, remote after", function()
    local dir = assert(fs.tempdir())
    os.execute("chmod 777 " .. dir)
    local order = {}
    dsl.host("hooked", {
      HostName = "127.0.0.1", Port = server.port, User = server.user,
      IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts,
      before_connect = "touch " .. fs.join(dir, "before"),
      after_connect = "echo remote > " .. fs.join(dir, "after_connect"),
      after_disconnect = function(host) order[#order + 1] = "disconnected " .. host.name end,
      hooks_in_tasks = true,
    })
    local t = dsl.task("hooks", { backend = "remote", targets = "hooked", script = function() order[#order + 1] = "script" end })
    assert.is_true(runner.run(dsl.registry, t).ok)
    assert.is_true(fs.exists(fs.join(dir, "before")))
    assert.equal("remote\n", fs.read(fs.join(dir, "after_connect")))
    assert.same({ "script", "disconnected hooked" }, order)
    -- Without hooks_in_tasks, as in essh v3, hooks are for logins (essh HOST) only.
    fs.remove(fs.join(dir, "before"))
    dsl.registry:get("host", "hooked").hooks_in_tasks = nil
    order = {}
    assert.is_true(runner.run(dsl.registry, t).ok)
    assert.is_false(fs.exists(fs.join(dir, "before")))
    assert.same({ "script" }, order)
    fs.remove(dir, { recursive = true })
  end)

  it("fails a host that outlives the task's timeout", function()
    local t = dsl.task("slow", { backend = "remote", targets = "web1", timeout = 0.3, script = "sleep 5" })
    local t0 = runtime.monotonic()
    local report = runner.run(dsl.registry, t, { stdout = capture(), stderr = capture() })
    assert.is_true(runtime.monotonic() - t0 < 2)
    assert.same({ "web1" }, report.failed)
    assert.equal("timeout", report.hosts.web1.error.kind)
  end)

  it("prefixes lines through a prefix template, coloured when asked", function()
    local t = dsl.task("templated", { backend = "remote", targets = "web", parallel = true,
      prefix = "{{.Host.Name}}@{{.Task.Name}}> ",
      script = "echo hi" })
    local out = capture()
    runner.run(dsl.registry, t, { stdout = out })
    local lines = out:lines()
    table.sort(lines)
    assert.same({ "web1@templated> hi", "web2@templated> hi" }, lines)
    out = capture()
    runner.run(dsl.registry, dsl.task("coloured", { backend = "remote", targets = "web", script = "echo hi" }),
      { stdout = out, color = true })
    assert.same({ "\27[32m[web1] \27[0mhi", "\27[33m[web2] \27[0mhi" }, out:lines())
    local alone = capture()
    runner.run(dsl.registry, dsl.task("plain", { backend = "remote", targets = "web1", script = "printf 'a\\tb'" }),
      { stdout = alone })
    assert.equal("a\tb\n", alone:text())
  end)

  it("fans the runner's stdin out to every host's script when the task asks", function()
    local t = dsl.task("fanout", { backend = "remote", targets = { "web", "db" }, parallel = true, stdin = true,
      script = { "read first", "echo \"$first/$ESSH_HOST_NAME\"", "tr a-z A-Z" } })
    local out = capture()
    local report = runner.run(dsl.registry, t, { stdout = out, stdin = "line one\nrest of it\n" })
    assert.is_true(report.ok)
    local lines = out:lines()
    table.sort(lines)
    assert.same({ "[db1]  REST OF IT", "[db1]  line one/db1", "[web1] REST OF IT", "[web1] line one/web1",
      "[web2] REST OF IT", "[web2] line one/web2" }, lines)
    local seen = {}
    t = dsl.task("fanout-lua", { backend = "remote", targets = "db1", stdin = true, script = function(task)
      seen[#seen + 1] = task:run("wc -c", { stdin = task.stdin }).stdout
    end })
    runner.run(dsl.registry, t, { stdin = "12345" })
    assert.same({ "5\n" }, seen)
  end)

  it("stops at Ctrl-C, closes its channels, reports what ran and exits 130", function()
    local lua = require "support.lua"
    local command, path = lua.script(([[
      local essh = require "essh"
      for _, name in ipairs({ "a", "b", "c" }) do
        essh.host(name) { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
      end
      essh.task "long" { backend = "remote", targets = { "a", "b", "c" }, parallel = 2, script = "echo started; sleep 30" }
      local code = essh.main({ [0] = "essh", "long" })
      io.stderr:write("code=", code, "\n")
      os.exit(code)
    ]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts))
    local t0 = runtime.monotonic()
    local p = assert(io.popen("(" .. command .. " & pid=$!; sleep 2; kill -INT $pid; wait $pid) 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    assert.is_true(runtime.monotonic() - t0 < 10)
    assert.matches("%[a%] started", out)
    assert.matches("%[b%] started", out)
    assert.not_matches("%[c%] started", out)
    assert.matches("interrupted", out)
    assert.matches("\na%s+interrupted", out)
    assert.matches("\nc%s+skipped", out)
    assert.matches("code=130\n", out)
    -- The remote commands were closed with their channels: no sleep 30 is left behind.
    local left = io.popen("sleep 0.5; pgrep -u " .. server.user .. " -f 'sleep 30' | wc -l"):read("*a")
    assert.equal("0", left:match("%d+"))
  end)

  it("removes the temporary file of an atomic upload that Ctrl-C stops, before it exits", function()
    local lua = require "support.lua"
    local dir = assert(fs.tempdir("essh-upload"))
    os.execute("chmod 777 " .. dir .. " && head -c 314572800 /dev/zero > " .. dir .. "/big.bin")
    local command, path = lua.script(([[
      local essh = require "essh"
      essh.host "a" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
      essh.task "send" { backend = "remote", targets = "a", script = function(t) t:upload(%q, %q) end }
      os.exit(essh.main({ [0] = "essh", "send" }))
    ]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts, dir .. "/big.bin",
      dir .. "/copy.bin"))
    local p = assert(io.popen("(" .. command .. " & pid=$!; sleep 0.6; kill -INT $pid; wait $pid; echo code=$?) 2>&1"))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    local left = io.popen("ls -a " .. dir):read("*a")
    fs.remove(dir, { recursive = true })
    assert.matches("code=130", out)
    assert.not_matches("essh%-", left)
    assert.not_matches("copy%.bin", left)
  end)

  it("tells listeners when tasks and hosts start and finish", function()
    local events = {}
    local off = runner.on("host_done", function(task, host, entry)
      events[#events + 1] = task.name .. " " .. host.name .. " " .. entry.status
    end)
    local off2 = runner.on("task_done", function(task, report)
      events[#events + 1] = task.name .. " done " .. tostring(report.ok)
    end)
    runner.run(dsl.registry, dsl.task("events", { backend = "remote", targets = "db1", script = "true" }))
    off()
    off2()
    runner.run(dsl.registry, dsl.registry:get("task", "events"))
    assert.same({ "events db1 ok", "events done true" }, events)
    assert.has_error(function() runner.on("sometime", print) end, "essh.on: unknown event 'sometime'")
  end)

  describe("privileged tasks", function()
    local sudoers = "/etc/sudoers.d/essh-test"
    local function allow(rule)
      local f = assert(io.open(sudoers, "w"))
      f:write(server.user, " ALL=(ALL) ", rule, "\n")
      f:close()
      os.execute("chmod 440 " .. sudoers)
    end

    before_each(function()
      if not (sshd.is_root and fs.exists("/usr/bin/sudo")) then pending("needs root and sudo") end
    end)
    after_each(function() os.remove(sudoers) end)

    it("run through sudo -n when sudo needs no password", function()
      if not fs.exists("/usr/bin/sudo") then return end
      allow("NOPASSWD: ALL")
      local out = capture()
      local t = dsl.task("whoami-nopass", { backend = "remote", targets = "web1", privileged = true, script = "id -un" })
      local report = runner.run(dsl.registry, t, { stdout = out })
      assert.is_true(report.ok)
      assert.equal("root\n", out:text())
    end)

    it("send a needed password over stdin, asked once for all hosts, never on a command line", function()
      if not fs.exists("/usr/bin/sudo") then return end
      allow("ALL")
      local asked = 0
      local out = capture()
      local t = dsl.task("whoami-pass", { backend = "remote", targets = "web", parallel = true, privileged = true,
        script = "id -un; ps -eo args | grep -v grep | grep -c " .. server.password .. " || true" })
      local report = runner.run(dsl.registry, t, { stdout = out, sudo_password = function()
        asked = asked + 1
        return require("essh.secret")(server.password)
      end })
      assert.is_true(report.ok)
      assert.equal(1, asked)
      local lines = out:lines()
      table.sort(lines)
      -- No process but the checks' own greps has the password in its arguments.
      assert.same({ "[web1] 0", "[web1] root", "[web2] 0", "[web2] root" }, lines)
    end)

    it("apply to task:run in Lua scripts, with user and privileged per call", function()
      allow("ALL")
      local seen, asked = {}, 0
      local t = dsl.task("lua-privileged", { backend = "remote", targets = "web1", privileged = true, script = function(task)
        seen[#seen + 1] = task:run("id -un").stdout
        seen[#seen + 1] = task:run("id -un", { privileged = false }).stdout
        seen[#seen + 1] = task:run("id -un", { user = "nobody" }).stdout
        seen[#seen + 1] = task:run("cat", { stdin = "through sudo" }).stdout
      end })
      local report = runner.run(dsl.registry, t, { sudo_password = function()
        asked = asked + 1
        return server.password
      end })
      assert.is_true(report.ok, tostring(report.hosts.web1.error))
      assert.equal(1, asked)
      assert.same({ "root\n", server.user .. "\n", "nobody\n", "through sudo" }, seen)
    end)

    it("never let the password reach a command when sudo does not ask for it (cached credentials)", function()
      allow("ALL")
      local f = assert(io.open(sudoers, "a"))
      f:write("Defaults:", server.user, " timestamp_type=global\n")
      f:close()
      local function forget() os.remove("/run/sudo/ts/" .. server.user) end
      forget()
      local seen = {}
      local t = dsl.task("cached-sudo", { backend = "remote", targets = "web1", privileged = true, script = function(task)
        seen[#seen + 1] = task:run("sh -e", { stdin = "echo hello\n" }).stdout
        seen[#seen + 1] = task:run("sh -e", { stdin = "echo hello\n" }).stdout
        seen[#seen + 1] = task:run("cat", { stdin = "DATA\n" }).stdout
        seen[#seen + 1] = task:run("cat").stdout
      end })
      local report = runner.run(dsl.registry, t, { stdout = capture(), stderr = capture(),
        sudo_password = server.password })
      forget()
      assert.is_true(report.ok, tostring(report.hosts.web1.error))
      assert.same({ "hello\n", "hello\n", "DATA\n", "" }, seen)
      for _, out in ipairs(seen) do assert.is_nil(out:find(server.password, 1, true)) end
    end)

    it("stop the run with exit code 130 on Ctrl-C at essh.main's password prompt, the terminal restored", function()
      allow("ALL")
      local lua = require "support.lua"
      local command, path = lua.script(([[
        local essh = require "essh"
        essh.host "a" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
        essh.task "root" { backend = "remote", targets = "a", privileged = true, script = "id -un" }
        local code = essh.main({ [0] = "essh", "root" })
        print("code=" .. code)
        os.exit(code)
      ]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts))
      local out = require("support.shell").run(("python3 spec/support/terminal.py 24 80 "
        .. "'expect:sudo password: ' 'kill:INT:^[^ ]*lua[^ ]* /tmp/lua_' -- sh -c 'stty -g; %s; echo rc=$?; stty -g'")
        :format(command))
      os.remove(path)
      assert.matches("code=130", out)
      assert.matches("rc=130", out)
      local modes = require("support.shell").stty_modes(out)
      assert.equal(2, #modes, out)
      assert.equal(modes[1], modes[2])
    end)

    it("take the fanned-out stdin after the password", function()
      allow("ALL")
      local out = capture()
      local t = dsl.task("stdin-privileged", { backend = "remote", targets = "web1", privileged = true, stdin = true,
        script = "echo \"$(id -un): $(cat)\"" })
      local report = runner.run(dsl.registry, t, { stdout = out, stdin = "data", sudo_password = server.password })
      assert.is_true(report.ok)
      assert.equal("root: data\n", out:text())
    end)

    it("fail the host, running nothing, without the password or with a wrong one", function()
      if not fs.exists("/usr/bin/sudo") then return end
      allow("ALL")
      local dir = assert(fs.tempdir())
      os.execute("chmod 777 " .. dir)
      local marker = fs.join(dir, "ran")
      local t = dsl.task("guarded", { backend = "remote", targets = "web1", privileged = true, script = "touch " .. marker })
      local report = runner.run(dsl.registry, t, { stdout = capture(), stderr = capture() })
      assert.same({ "web1" }, report.failed)
      assert.matches("sudo needs a password", tostring(report.hosts.web1.error))
      report = runner.run(dsl.registry, t, { stdout = capture(), stderr = capture(), sudo_password = "wrong" })
      assert.same({ "web1" }, report.failed)
      assert.is_false(fs.exists(marker))
      fs.remove(dir, { recursive = true })
    end)
  end)

  it("runs from essh.main with the documented exit codes, as the mission's deploy.lua does", function()
    local lua = require "support.lua"
    local function main(args)
      local out, status = lua.run(([[
        local essh = require "essh"
        local host, task = essh.host, essh.task
        host "web1" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q,
          UserKnownHostsFile = %q, tags = { "web" } }
        host "down" { HostName = "127.0.0.1", Port = 1, tags = { "broken" } }
        task "deploy" { targets = "web", parallel = true, script = function(t)
          local r = t:run("echo git pull")
          if r.exitStatus ~= 0 then error(r.stderr) end
          io.write(r.stdout)
        end }
        task "fail" { backend = "remote", targets = "web", script = "exit 7" }
        task "reach" { backend = "remote", targets = "broken", script = "true" }
        os.exit(essh.main({ [0] = "deploy.lua", %s }))
      ]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts, args))
      return out, status
    end
    local out, status = main('"deploy"')
    assert.equal(0, status)
    assert.equal("git pull\n", out)
    assert.equal(1, select(2, main('"fail"')))
    assert.equal(3, select(2, main('"reach"')))
    assert.equal(2, select(2, main('"nope"')))
    out, status = main("")                             -- no arguments: the usage, as essh v3 printed it
    assert.equal(0, status)
    assert.matches("usage: deploy.lua", out)
    out, status = main('"fail", "--dry-run"')
    assert.equal(0, status)
    assert.matches("exit 7", out)
  end)
end)
