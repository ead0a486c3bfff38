-- The essh command, installed by `luarocks make` into a tree of its own and run as a subprocess
-- against the test sshd; the interactive mode through a real pseudo-terminal.
local sshd = require "support.sshd"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"
local cli = require "essh.cli"

-- `text` as a pattern matching itself.
local function plain(text) return (text:gsub("%p", "%%%0")) end

describe("the essh command", function()
  local server, tree, dir, home, essh_bin

  -- Runs essh in the project directory with `args` (a shell-quoted string); output and status.
  local function essh(args, options)
    options = options or {}
    local command = ("cd %s && HOME=%s NO_COLOR=1 ESSH_TRUST_ALL=1 %s %s %s"):format(options.cwd or dir, home, options.env or "",
      essh_bin, args)
    if options.stdout_only then command = command .. " 2>/dev/null" end
    return shell.run(command)
  end

  setup(function()
    server = sshd.start()
    tree = assert(fs.tempdir())
    shell.must(("tools/luarocks-for %s --tree %s make rockspec/essh-scm-1.rockspec"):format(lua.interpreter, tree))
    essh_bin = fs.join(tree, "bin", "essh")
    dir, home = assert(fs.tempdir()), assert(fs.tempdir())
    local common = ("HostName = '127.0.0.1', Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q")
      :format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts)
    fs.write(fs.join(dir, ".esshconfig.lua"), ([[
local mylib = require "mylib"
host "web1" { %s, description = "first web", tags = { "web", "production" } }
host "web2" { %s, tags = { "web" } }
host "db1" { %s, tags = { "db" }, hidden = true }
host "down" { HostName = "127.0.0.1", Port = 1, tags = { "broken" } }
task "hello" { description = "say hello", backend = "remote", targets = "web", parallel = true,
  script = "echo hello $ESSH_HOST_NAME" }
task "args" { backend = "remote", targets = "web1", script = "echo args: $ESSH_TASK_ARGS_1 $ESSH_TASK_ARGS_2" }
task "fail" { backend = "remote", targets = { "web", "db" }, script = "test $ESSH_HOST_NAME != web2" }
task "secret" { hidden = true, script = "true" }
task "off" { disabled = true, script = "true" }
task "lib" { script = "echo " .. mylib.word }
host "hooky" { HostName = "127.0.0.1", before_connect = function() error("the hook broke") end }
host "hooked" { %s, before_connect = "echo before > hooks.log",
  hooks_after_connect = { "echo after_connect: $ESSH_NOT_SENT", function() return "cd /tmp" end },
  after_disconnect = function() local f = io.open("hooks.log", "a") f:write("after\n") f:close() end }
]]):format(common, common, common, common))
    fs.write(fs.join(dir, ".esshconfig_override.lua"), 'essh.registry:get("host", "web2").description = "patched"\n')
    assert(fs.mkdir(fs.join(dir, ".essh", "lib"), { parents = true }))
    fs.write(fs.join(dir, ".essh", "lib", "mylib.lua"), 'return { word = "from-lib" }\n')
    assert(fs.mkdir(fs.join(home, ".essh"), { parents = true }))
    fs.write(fs.join(home, ".essh", "config.lua"), 'task "global-only" { description = "from home", script = "echo g" }\n')
    assert(fs.mkdir(fs.join(home, ".ssh"), { parents = true }))
    fs.write(fs.join(home, ".ssh", "config"), ("Host cfghost\n  HostName 127.0.0.1\n  Port %d\n  User %s\n"
      .. "  IdentityFile %s\n  UserKnownHostsFile %s\n"):format(server.port, server.user, server.keys .. "/id_ed25519",
      server.known_hosts))
  end)

  teardown(function()
    server.stop()
    for _, d in ipairs({ tree, dir, home }) do fs.remove(d, { recursive = true }) end
  end)

  it("prints its version, and a help line for every flag", function()
    local out, status = essh("--version")
    assert.equal(0, status)
    assert.matches("^essh %d+%.%d+%.%d+", out)
    out, status = essh("--help")
    assert.equal(0, status)
    for _, flag in ipairs(cli.FLAGS) do assert.matches("\n  " .. flag[1]:gsub("%-", "%%-"), out) end
  end)

  it("refuses an unknown flag, task or broken config with one line and exit 2", function()
    local out, status = essh("--frobnicate")
    assert.equal(2, status)
    assert.equal("essh: unknown flag --frobnicate (see --help)\n", out)
    out, status = essh("nosuchtask")
    assert.equal(2, status)
    assert.equal("essh: no task or host named nosuchtask (essh --tasks, essh --hosts)\n", out)
    local broken = fs.join(dir, "broken.lua")
    fs.write(broken, 'host "x" {\n  Nope = 1,\n}\n')
    out, status = essh("--config " .. broken .. " --hosts")
    assert.equal(2, status)
    assert.truthy(out:find(("essh: %s:1: host x: unknown ssh option 'Nope'"):format(broken), 1, true), out)
    out, status = essh("off")
    assert.equal(2, status)
    assert.not_matches("traceback", out)
    out, status = essh("hooky")
    assert.equal(2, status)
    assert.matches("^essh: [^\n]*the hook broke\n$", out)
    out, status = essh("--debug hooky")
    assert.equal(2, status)
    assert.matches("the hook broke\nstack traceback:\n", out)
  end)

  it("lists hosts, tasks and tags, as tables, names or JSON", function()
    local out = essh("--hosts")
    assert.matches("^NAME%s+DESCRIPTION%s+TAGS%s+HIDDEN\n", out)
    assert.matches("\nweb1%s+first web%s+web,production%s+false\n", out)
    assert.matches("\nweb2%s+patched%s+web%s+false\n", out)
    assert.matches("\ndb1%s+db%s+true\n", essh("--hosts --all"))
    assert.not_matches("db1", out)
    assert.matches("db1", essh("--hosts --all"))
    assert.equal("web1\nweb2\n", essh("--hosts --quiet --select web"))
    assert.equal("web1\n", essh("--hosts --quiet --select web --filter production"))
    local hosts = json.decode((essh("--hosts --json --all", { stdout_only = true })))
    assert.equal(6, #hosts)
    assert.equal("db1", hosts[1].name)                  -- sorted by name, as essh v3 listed them
    assert.same({ "db" }, setmetatable(hosts[1].tags, nil))
    assert.equal(server.port, hosts[1].Port)
    out = essh("--tasks")
    assert.matches("\nhello%s+say hello\n", out)
    assert.not_matches("secret", out)
    assert.not_matches("off", out)
    assert.matches("\noff%s+%(disabled%)", essh("--tasks --all"))
    local tasks = json.decode((essh("--tasks --json --all", { stdout_only = true })))
    assert.equal("hello", tasks[1].name)
    assert.equal(6, #tasks)
    assert.equal("broken\nproduction\nweb\n", essh("--tags --quiet"))
    local tags = json.decode((essh("--tags --json", { stdout_only = true })))
    assert.same({ "web1", "web2" }, setmetatable(tags[3].hosts, nil))
  end)

  it("runs a task with its arguments and the runner's exit codes", function()
    local out, status = essh("hello")
    assert.equal(0, status)
    assert.matches("%[web1%] hello web1\n", out)
    assert.matches("%[web2%] hello web2\n", out)
    assert.matches("HOST%s+STATUS%s+EXIT%s+TIME", out)
    out, status = essh("args one -- --two")
    assert.equal(0, status)
    assert.equal("args: one --two\n", out)
    assert.equal(1, select(2, essh("fail --parallel")))
    out, status = essh("fail --on-failure=continue --select web --select db1")
    assert.equal(1, status)
    assert.matches("\nweb2%s+failed%s+1 ", out)
    assert.matches("\ndb1%s+ok%s+0 ", out)
    out, status = essh("hello --select down")
    assert.equal(3, status)
    assert.matches("\ndown%s+unreachable ", out)
    out, status = essh("hello --dry-run --prefix")
    assert.equal(0, status)
    assert.matches("%[remote:web1%] echo hello %$ESSH_HOST_NAME", out)   -- --prefix: essh v3's prefix
    assert.equal("from-lib\n", essh("lib"))
    out = essh("hello --color")
    assert.matches("\27%[32m%[web1%] \27%[0mhello web1", out)
    assert.not_matches("\27", (essh("hello --no-color")))
    assert.equal(2, select(2, essh("hello --parallel=lots")))
  end)

  it("reports a run as JSON on stdout, the hosts' output on stderr", function()
    local out, status = essh("fail --json --on-failure=continue", { stdout_only = true })
    assert.equal(1, status)
    local report = json.decode(out)
    assert.equal("fail", report.task)
    assert.equal(1, report.exit_code)
    assert.is_false(report.ok)
    assert.same({ "web2" }, setmetatable(report.failed, nil))
    assert.equal("db1", report.hosts[1].name)
    assert.equal(1, report.hosts[3].exitStatus)
  end)

  it("writes the JSON report even when a host's error holds bytes that are not UTF-8", function()
    local path = fs.join(dir, "badutf.lua")
    fs.write(path, ('host "web1" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, '
      .. 'UserKnownHostsFile = %q }\ntask "badutf" { targets = "web1", script = function(t) '
      .. 'error(t:run("printf \'oops \\\\377\\\\n\' >&2; exit 3").stderr, 0) end }\n')
      :format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts))
    local out, status = essh("--config badutf.lua badutf --json", { stdout_only = true })
    assert.equal(1, status)
    local report = assert(json.decode(out))
    assert.equal("oops \239\191\189\n", report.hosts[1].error)
  end)

  it("runs an ad hoc command on the hosts of --target", function()
    local out, status = essh("--exec --backend remote --target web 'echo adhoc $(whoami)'")
    assert.equal(0, status)
    assert.matches("%[web1%] adhoc " .. plain(server.user), out)
    assert.matches("%[web2%] adhoc " .. plain(server.user), out)
    assert.equal(2, select(2, essh("--exec")))
  end)

  it("runs tasks, --exec and one-command sessions through the system's OpenSSH with --openssh", function()
    local out, status = essh("--openssh hello")
    assert.equal(0, status, out)
    assert.matches("%[web1%] hello web1", out)
    assert.matches("%[web2%] hello web2", out)
    out, status = essh("--openssh --exec --backend=remote 'echo adhoc' --target web")
    assert.equal(0, status, out)
    assert.matches("%[web1%] adhoc", out)
    assert.matches("%[web2%] adhoc", out)
    out, status = essh("--openssh web1 -- 'echo one; exit 4'", { stdout_only = true })
    assert.equal(4, status)
    assert.equal("one\n", out)
  end)

  it("prints a host's resolved ssh configuration with -G, the host's options first", function()
    local out, status = essh("-G web1", { stdout_only = true })
    assert.equal(0, status)
    assert.matches("\nhostname 127.0.0.1\n", out, 1, true)
    assert.matches("\nport " .. server.port .. "\n", out, 1, true)
    out = essh("-G someone@cfghost", { stdout_only = true })
    assert.matches("\nuser someone\n", out, 1, true)
    assert.matches("\nport " .. server.port .. "\n", out, 1, true)
    out = essh("-F none -G cfghost", { stdout_only = true })
    assert.matches("\nport 22\n", out, 1, true)
  end)

  it("shows finished hosts as plain lines with --quiet off a terminal", function()
    local out, status = essh("hello --quiet")
    assert.equal(0, status)
    assert.not_matches("hello web1", out)
    assert.matches("web1: ok %(", out)
    assert.matches("web2: ok %(", out)
  end)

  it("finds the project's config, the user's with --global, or the one given", function()
    assert.matches("global%-only", essh("--tasks --global"))
    assert.not_matches("hello", essh("--tasks --global"))
    local elsewhere = assert(fs.tempdir())
    assert.matches("global%-only", essh("--tasks", { cwd = elsewhere }))
    local given = fs.join(elsewhere, "given.lua")
    fs.write(given, 'task "given" { script = "true" }\n')
    assert.matches("given", essh("--tasks", { env = "ESSH_CONFIG=" .. given }))
    assert.matches("given", essh("--tasks --config " .. given))
    fs.remove(elsewhere, { recursive = true })
  end)

  it("prints the hosts as ssh_config that OpenSSH reads, to a 0600 file when asked", function()
    local path = fs.join(dir, "essh_ssh_config")
    assert.equal(0, select(2, essh("--print --output " .. path)))
    assert.equal(tonumber("600", 8), fs.stat(path).mode % 512)
    local g = shell.must(("ssh -G -F %s web1"):format(path))
    assert.matches("\nhostname 127%.0%.0%.1\n", "\n" .. g)
    assert.matches("\nport " .. server.port .. "\n", "\n" .. g)
    assert.matches("\nuser " .. plain(server.user) .. "\n", "\n" .. g)
    local out = shell.must(("ssh -F %s -o BatchMode=yes web2 echo via-openssh"):format(path))
    assert.equal("via-openssh\n", out)
    assert.matches("Host db1\n", essh("--ssh-config"))
  end)

  it("prints completion scripts that complete tasks, hosts, tags and flags", function()
    local bash = essh("--bash-completion")
    assert.matches("complete %-F _essh essh", bash)
    local f = io.open(fs.join(dir, "completion.bash"), "w")
    f:write(bash)
    f:close()
    shell.must("bash -n " .. fs.join(dir, "completion.bash"))
    assert.matches("compdef _essh essh", essh("--zsh-completion"))
    assert.matches("\nhello:say hello\n", "\n" .. essh("--complete=tasks"))
    assert.matches("\nweb1:first web\n", "\n" .. essh("--complete=hosts"))
    assert.matches("\nproduction:tag\n", "\n" .. essh("--complete=tags"))
    assert.matches("\n%-%-dry%-run:", "\n" .. essh("--complete=flags"))
    local words = shell.must(("cd %s && HOME=%s PATH=%s:$PATH bash -c '. ./completion.bash; COMP_WORDS=(essh he); "
      .. "COMP_CWORD=1; _essh; echo ${COMPREPLY[@]}'"):format(dir, home, fs.join(tree, "bin")))
    assert.equal("hello\n", words)
  end)

  it("writes an example config with --init, once", function()
    local fresh = assert(fs.tempdir())
    assert.equal(0, select(2, essh("--init", { cwd = fresh })))
    local out, status = essh("--tasks", { cwd = fresh })
    assert.equal(0, status)
    assert.matches("deploy", out)
    assert.equal(2, select(2, essh("--init", { cwd = fresh })))
    fs.remove(fresh, { recursive = true })
    -- A project whose config is esshconfig.lua (no dot) keeps it: --init writes nothing that would shadow it.
    local other = assert(fs.tempdir())
    fs.write(fs.join(other, "esshconfig.lua"), 'task "mine" { script = "true" }\n')
    local said, code = essh("--init", { cwd = other })
    assert.equal(2, code)
    assert.matches("esshconfig.lua already exists here", said)
    assert.is_false(fs.exists(fs.join(other, ".esshconfig.lua")))
    fs.remove(other, { recursive = true })
  end)

  it("refuses an empty --exec command and a task whose targets match no host, with exit code 2", function()
    local out, status = essh("--exec '' --target web")
    assert.equal(2, status)
    assert.matches("%-%-exec needs a command", out)
    out, status = essh("hello --select nobody")
    assert.equal(2, status)
    assert.matches("task hello: no host matches nobody", out)
  end)

  describe("interactive", function()
    local function terminal(steps, command)
      return shell.run(("cd %s && HOME=%s ESSH_TRUST_ALL=1 python3 %s/spec/support/terminal.py 24 80 %s -- %s"):format(dir, home,
        lua.checkout, steps, command))
    end

    it("opens a shell in a PTY of the local size, follows resizes, and returns the exit status", function()
      local out, status = terminal("'expect:[$#] ' 'send:stty size\\n' 'expect:24 80' resize:40:100 "
        .. "'send:stty size\\n' 'expect:40 100' 'send:exit 7\\n'", essh_bin .. " web1")
      assert.equal(0, status, out)
      assert.matches("exit=7\n$", out)
    end)

    it("restores the terminal whatever way it ends", function()
      local out = terminal("'expect:[$#] ' 'send:exit 3\\n'",
        ("sh -c 'stty -g; %s web1; echo rc=$?; stty -g; %s down; stty -g'"):format(essh_bin, essh_bin))
      local modes = shell.stty_modes(out)
      assert.matches("rc=3", out)
      assert.equal(3, #modes, out)
      assert.equal(modes[1], modes[2])
      assert.equal(modes[1], modes[3])
    end)

    it("shows a live view of the hosts' states when their output is hidden", function()
      local out, status = terminal("'expect:hello \\[#+\\] 2/2'", essh_bin .. " hello --quiet")
      assert.equal(0, status, out)
      assert.matches("web1%s+.-ok", out)
      assert.matches("exit=0\n$", out)
    end)

    it("ends on SIGINT in the middle of a remote command with the terminal restored, every time", function()
      for _ = 1, 3 do
        local out = terminal("'expect:started' 'kill:INT:^[^ ]*lua[^ ]* .*essh web1'",
          ("sh -c 'stty -g; %s web1 -- \"echo started; sleep 20\"; echo rc=$?; stty -g'"):format(essh_bin))
        local modes = shell.stty_modes(out)
        assert.matches("rc=130", out)
        assert.equal(2, #modes, out)
        assert.equal(modes[1], modes[2])
      end
    end)

    it("ends on SIGTERM with the terminal restored", function()
      local out = terminal("'expect:[$#] ' 'kill:TERM:^[^ ]*lua[^ ]* .*essh web1'",
        ("sh -c 'stty -g; %s web1; echo rc=$?; stty -g'"):format(essh_bin))
      local modes = shell.stty_modes(out)
      assert.matches("ended by SIGTERM", out)
      assert.matches("rc=255", out)
      assert.equal(2, #modes, out)
      assert.equal(modes[1], modes[2])
    end)

    it("logs into hosts of ~/.ssh/config, and runs a defined host's hooks around the session", function()
      local out, status = essh("cfghost -- echo from-ssh-config </dev/null")
      assert.equal(0, status, out)
      assert.equal("from-ssh-config\n", out)
      -- A login runs the hooks, as in essh v3: after_connect in the session, before its shell.
      out, status = essh("hooked </dev/null")
      assert.equal(0, status, out)
      assert.equal("after_connect:\n", out)
      assert.equal("before\nafter\n", fs.read(fs.join(dir, "hooks.log")))
      -- One command runs no hooks (essh v3's rule).
      fs.remove(fs.join(dir, "hooks.log"))
      out, status = essh("hooked -- echo inside </dev/null")
      assert.equal(0, status, out)
      assert.equal("inside\n", out)
      assert.is_false(fs.exists(fs.join(dir, "hooks.log")))
    end)

    it("runs one command with its output passed through", function()
      local out, status = essh("web1 -- 'echo one; echo two >&2; exit 5'")
      assert.equal(5, status)
      assert.equal("one\ntwo\n", out)
      out = essh("web2 cat </dev/null") -- stdin is not a terminal: no PTY, and its end reaches cat
      assert.equal("", out)
    end)
  end)
end)
