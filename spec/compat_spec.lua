-- Configs written for the original essh (v3.4), in the style of its documentation
-- (website/content/docs/en/*.md and intro/en/*.md), run through the essh command against the
-- suite's sshd: they load unchanged and do what v3.4 did. MIGRATING.md lists the deliberate
-- differences.
local sshd = require "support.sshd"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"

local function plain(text) return (text:gsub("%p", "%%%0")) end



describe("a config written for essh v3.4", function()
  local server, home, common, http

  -- A project directory holding `files` (name -> text); its path.
  local function project(files)
    local dir = assert(fs.tempdir("essh-compat-"))
    for name, text in pairs(files) do
      local path = fs.join(dir, name)
      assert(fs.mkdir(fs.dirname(path), { parents = true }))
      assert(fs.write(path, text))
    end
    return dir
  end

  -- Runs this checkout's essh command in `dir` with `args` (shell words); output and status.
  local function essh(dir, args, options)
    options = options or {}
    local command = ("cd %s && HOME=%s NO_COLOR=1 ESSH_TRUST_ALL=1 LUA_PATH=%s LUA_CPATH=%s %s %s %s/bin/essh %s%s"):format(
      shell.quote(dir), shell.quote(home), shell.quote(lua.path .. ";;"), shell.quote(lua.cpath .. ";;"),
      options.env or "", lua.interpreter, lua.checkout, args, options.stdout_only and " 2>/dev/null" or "")
    return shell.run(command)
  end

  setup(function()
    server = sshd.start()
    home = assert(fs.tempdir("essh-compat-home-"))
    assert(fs.mkdir(fs.join(home, ".essh"), { parents = true }))
    common = ("HostName = '127.0.0.1', Port = '%d', User = %q, IdentityFile = %q, UserKnownHostsFile = %q")
      :format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts)
    http = require("support.httpd").start()
  end)

  teardown(function()
    server.stop()
    http.stop()
    fs.remove(home, { recursive = true })
  end)

  -- The hosts of intro/managing-hosts.md, each a name of the suite's sshd.
  local function fleet()
    return ([[
host "web01.localhost" { %s, description = "web01 development server", tags = { "web" } }
host "web02.localhost" { %s, description = "web02 development server", tags = { "web", "production" } }
host "db01.localhost" { %s, description = "db01 server", tags = { "db", "backend" } }
host "cache01.localhost" { %s, description = "cache01 server", tags = { "cache", "backend" }, hidden = true }
]]):format(common, common, common, common)
  end

  describe("hosts", function()
    it("take any ssh_config keyword in upper case, props, tags and v3's listing and ssh_config", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [[
host "web03.localhost" {
    HostName = "192.168.0.13",
    Port = "22",
    User = "kohkimakimoto",
    ForwardAgent = "yes",
    Compression = "yes",
    ServerAliveInterval = "30",
    description = "web03 development server",
    hidden = false,
    props = { aaa = "bbb", ccc = "ddd" },
    tags = { "web", "development" },
    hooks_before_connect = { "echo bar" },
}
]] }
      local out, status = essh(dir, "--hosts")
      assert.equal(0, status, out)
      assert.matches("^NAME%s+DESCRIPTION%s+TAGS%s+HIDDEN\n", out)
      assert.matches("\ndb01%.localhost%s+db01 server%s+db,backend%s+false\nweb01", out)
      assert.not_matches("cache01", out)
      assert.matches("\ncache01%.localhost%s+cache01 server%s+cache,backend%s+true\n", essh(dir, "--hosts --all"))
      assert.equal("web01.localhost\nweb02.localhost\nweb03.localhost\n", essh(dir, "--hosts --quiet --select=web"))
      assert.equal("db01.localhost\nweb01.localhost\nweb02.localhost\nweb03.localhost\n",
        essh(dir, "--hosts --quiet --select=web --select=db"))
      assert.equal("web02.localhost\n", essh(dir, "--hosts --quiet --select web --filter production"))
      out = essh(dir, "--hosts --select=web03.localhost --ssh-config", { stdout_only = true })
      assert.equal("Host web03.localhost\n    Compression yes\n    ForwardAgent yes\n    HostName 192.168.0.13\n"
        .. "    Port 22\n    ServerAliveInterval 30\n    User kohkimakimoto\n", out)
    end)

    it("can be defined as a table of hosts, as objects, and answer .name as a field or a call", function()
      local dir = project { [".esshconfig.lua"] = [[
local hosts = host {
    ["a.localhost"] = { HostName = "10.0.0.1", tags = { "t" } },
    ["b.localhost"] = { HostName = "10.0.0.2", tags = { "t" } },
}
local web01 = host "web01.localhost"
web01.HostName = "192.168.0.11"
web01.Port = "22"
web01.description = "web01 development server"
web01.tags = { "web" }
host("web02.localhost", { HostName = "192.168.0.12", tags = { "web" } })
local names = hosts["a.localhost"]:name() .. " " .. hosts["b.localhost"].name .. " " .. web01.name()
task "names" { script = "echo " .. names }
]] }
      assert.equal("a.localhost b.localhost web01.localhost\n", essh(dir, "names"))
      local out = essh(dir, "--print")
      assert.matches("Host web01%.localhost\n    HostName 192%.168%.0%.11\n    Port 22\n", out)
      assert.matches("Host a%.localhost\n    HostName 10%.0%.0%.1\n", out)
    end)

    it("run their hooks around a login: lists of commands and functions, as using-hooks.md shows", function()
      local dir = project { [".esshconfig.lua"] = ([[
host "web01.localhost" {
    %s,
    hooks_before_connect = {
        "echo before_connect: local >> hooks.log",
        function() return "echo before_connect: from a function >> hooks.log" end,
        function() return function() return "echo before_connect: nested >> hooks.log" end end,
        function() local f = io.open("hooks.log", "a") f:write("before_connect: lua\n") f:close() end,
    },
    hooks_after_connect = { "echo after_connect: $(hostname) $PWD", "cd /tmp" },
    hooks_after_disconnect = { "echo after_disconnect: local >> hooks.log" },
}
]]):format(common) }
      local out, status = essh(dir, "web01.localhost </dev/null")
      assert.equal(0, status, out)
      assert.matches("^after_connect: %S+ /", out)
      -- As in v3.4, the functions run first, giving the commands of the one script that then runs.
      assert.equal("before_connect: lua\nbefore_connect: local\nbefore_connect: from a function\n"
        .. "before_connect: nested\nafter_disconnect: local\n", fs.read(fs.join(dir, "hooks.log")))
      -- The shell runs after the hooks, where they left it (cd /tmp).
      assert(fs.write(fs.join(dir, "input"), "pwd\n"))
      out = essh(dir, "web01.localhost <input")
      assert.matches("\n/tmp\n$", out)
      -- Not around tasks or --exec, as in v3.4.
      fs.remove(fs.join(dir, "hooks.log"))
      essh(dir, "--exec --backend=remote --target=web01.localhost true")
      assert.is_false(fs.exists(fs.join(dir, "hooks.log")))
    end)

    it("take defaults from ~/.essh/config_override.lua through essh.select_hosts, as lua-vm.md shows", function()
      local dir = project { [".esshconfig.lua"] = fleet() }
      local override = fs.join(home, ".essh", "config_override.lua")
      assert(fs.write(override, [[
for _, h in pairs(essh.select_hosts():get()) do
    if h.ForwardAgent == nil then h.ForwardAgent = "yes" end
end
for _, h in pairs(essh.select_hosts("web"):filter("production"):get()) do h.Compression = "yes" end
for _, h in pairs(essh.select_hosts({ "web", "db" }):get()) do h.ServerAliveInterval = "15" end
local h = essh.select_hosts("backend"):first()
h.description = "first backend: " .. h.name
for _, hidden in ipairs(essh.select_hosts():hidden():get()) do hidden.description = "hidden" end
]]))
      local out = essh(dir, "--print")
      fs.remove(override)
      assert.matches("Host web02%.localhost\n    Compression yes\n    ForwardAgent yes\n", out)
      assert.not_matches("Host web01%.localhost\n    Compression", out)
      assert.matches("Host cache01%.localhost\n    ForwardAgent yes\n    HostName", out)
      local function block(name) return out:match("Host " .. plain(name) .. "\n(.-)\n\n") or "" end
      assert.matches("ServerAliveInterval 15", block("db01.localhost"))
      assert.not_matches("ServerAliveInterval", block("cache01.localhost"))
    end)
  end)

  describe("tasks", function()
    it("run remotely with v3's prefix, aligned, as running-tasks.md shows", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [=[
task "hello" {
    description = "say hello",
    prefix = true,
    backend = "remote",
    targets = { "web", "db" },
    script = [[
        echo "hello on $(hostname)"
    ]],
}
]=] }
      local out, status = essh(dir, "hello", { stdout_only = true })
      assert.equal(0, status, out)
      local me = shell.must("hostname"):gsub("%s+$", "")
      assert.equal(("[remote:db01.localhost]  hello on %s\n[remote:web01.localhost] hello on %s\n"
        .. "[remote:web02.localhost] hello on %s\n"):format(me, me, me), out)
    end)

    it("run locally by default, once per target host with its variables (running-commands.md, tasks.md)", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [[
task "example" {
    description = "example task",
    targets = { "web" },
    filters = { "production" },
    backend = "local",
    parallel = true,
    prefix = true,
    script = { "echo foo $ESSH_HOSTNAME", "echo bar $ESSH_HOST_HOSTNAME $ESSH_HOST_SSH_HOSTNAME" },
}
task "each" { targets = "web", script = "echo $ESSH_HOSTNAME $ESSH_HOST_TAGS_WEB $ESSH_HOST_SSH_PORT" }
task "here" { prefix = true, script = "echo here" }
]] }
      assert.equal("[local:web02.localhost] foo web02.localhost\n[local:web02.localhost] bar web02.localhost 127.0.0.1\n",
        essh(dir, "example", { stdout_only = true }))
      -- A run of several hosts prefixes its lines (a deliberate difference: MIGRATING.md).
      assert.equal(("[web01.localhost] web01.localhost 1 %d\n[web02.localhost] web02.localhost 1 %d\n")
        :format(server.port, server.port), essh(dir, "each", { stdout_only = true }))
      assert.equal("[local] here\n", essh(dir, "here", { stdout_only = true }))
      local out, status = essh(dir, "--exec --target=web --parallel --prefix 'echo $ESSH_HOSTNAME'", { stdout_only = true })
      assert.equal(0, status)
      local lines = {}
      for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
      table.sort(lines)                                  -- in parallel: in any order
      assert.same({ "[local:web01.localhost] web01.localhost", "[local:web02.localhost] web02.localhost" }, lines)
    end)

    it("take every script form, props, args and the short forms, with v3's variables", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [=[
task "forms" {
    backend = "remote",
    targets = "web01.localhost",
    props = { foo = "bar", ["a-b.c"] = "d" },
    script = {
        "echo one $ESSH_TASK_PROPS_FOO $ESSH_TASK_PROPS_A_B_C",
        { code = "echo two $ESSH_TASK_ARGS_1 $ESSH_TASK_ARGS_2", description = "second" },
        function() return "echo three $ESSH_TASK_NAME" end,
        function() return { "echo four", { code = "echo five" } } end,
    },
}
task "short" "echo short form"
task { description = "the default task", script = "echo unnamed" }
local t = task "assigned"
t.description = "set field by field"
t.script = [[echo assigned $ESSH_DEBUG]]
task "vars" { targets = "web01.localhost",
  script = [[test -s "$ESSH_SSH_CONFIG" && grep -c '^Host ' "$ESSH_SSH_CONFIG"; echo "[$ESSH_DEBUG]"]] }
]=] }
      assert.equal("one bar d\ntwo x y\nthree forms\nfour\nfive\n", essh(dir, "forms x y", { stdout_only = true }))
      assert.equal("short form\n", essh(dir, "short", { stdout_only = true }))
      assert.equal("unnamed\n", essh(dir, "default", { stdout_only = true }))
      assert.equal("assigned\n", essh(dir, "assigned", { stdout_only = true }))
      assert.equal("assigned 1\n", essh(dir, "assigned", { stdout_only = true, env = "ESSH_DEBUG=1" }))
      assert.equal("4\n[]\n", essh(dir, "vars", { stdout_only = true }))
      assert.matches("\n%[1%]\n$", essh(dir, "vars --debug", { stdout_only = true }))
      assert.matches("\nassigned%s+set field by field\n", essh(dir, "--tasks"))
    end)

    it("run a prepare function first, which may change the targets, read args and cancel", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [[
task "prep" {
    backend = "remote",
    targets = "db",
    prepare = function(t)
        if t.args[1] == "stop" then return false end
        t.targets = "web"
        t.props = { chosen = t.args[1] or "none" }
    end,
    script = "echo $ESSH_HOSTNAME $ESSH_TASK_PROPS_CHOSEN",
}
]] }
      assert.equal("[web01.localhost] web01.localhost go\n[web02.localhost] web02.localhost go\n",
        essh(dir, "prep go", { stdout_only = true }):gsub("\n[^%[][^\n]*", ""):gsub("HOST.*$", ""))
      local out, status = essh(dir, "prep stop")
      assert.equal(1, status)
      assert.matches("prepare returned false", out)
    end)

    it("refuse a remote task whose targets match no host, and a task without a known driver", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [[
task "nowhere" { backend = "remote", targets = "nosuch", script = "true" }
task "untargeted" { backend = "remote", script = "true" }
]] }
      local out, status = essh(dir, "nowhere")
      assert.equal(2, status)
      assert.matches("no host matches nosuch", out)
      out, status = essh(dir, "untargeted")
      assert.equal(2, status)
      assert.matches("needs targets", out)
      dir = project { [".esshconfig.lua"] = 'task "x" { driver = "nosuch", script = "true" }\n' }
      out, status = essh(dir, "x")
      assert.equal(2, status)
      assert.matches("%.esshconfig%.lua:1: task x: no driver named nosuch", out)
    end)

    it("read script_file from a path or a URL, give pty a terminal and ssh_options to ssh", function()
      local dir = project {
        ["script.sh"] = "echo from the file $ESSH_TASK_NAME\n",
        [".esshconfig.lua"] = fleet() .. ([[
task "file" { script_file = "script.sh" }
task "url" { backend = "remote", targets = "web01.localhost", script_file = %q }
task "tty" { backend = "remote", targets = "web01.localhost", pty = true, script = "tty" }
task "notty" { backend = "remote", targets = "web01.localhost", script = "tty || true" }
host "wrongport" { HostName = "127.0.0.1", Port = "1", User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
task "options" { backend = "remote", targets = "wrongport", ssh_options = { "-p", "%d", "-o", "Compression=yes" },
  script = "echo reached" }
]]):format(http.url .. "/script", server.user, server.keys .. "/id_ed25519", server.known_hosts, server.port) }
      local out, status = essh(dir, "file", { stdout_only = true })
      assert.equal(0, status)
      assert.equal("from the file file\n", out)
      assert.equal("script from the url for url\n", essh(dir, "url", { stdout_only = true }))
      assert.matches("^/dev/pts/%d+", essh(dir, "tty", { stdout_only = true }))
      assert.matches("not a tty", essh(dir, "notty", { stdout_only = true }))
      assert.equal("reached\n", essh(dir, "options", { stdout_only = true }))
      dir = project { [".esshconfig.lua"] = 'task "both" { script = "x", script_file = "y" }\n' }
      out, status = essh(dir, "--tasks")
      assert.equal(2, status)
      assert.matches("task both: script and script_file cannot both be set", out)
    end)
  end)

  describe("drivers", function()
    -- The driver of intro/using-drivers.md, word for word.
    local MY_DRIVER = [=[
driver "my_driver" {
    engine = [[
        {{template "environment" .}}

        set -e
        indent() {
            local n="${1:-4}"
            local p=""
            for i in `seq 1 $n`; do
                p="$p "
            done;

            local c="s/^/$p/"
            case $(uname) in
              Darwin) sed -l "$c";;
              *)      sed -u "$c";;
            esac
        }

        {{range $i, $script := .Scripts -}}
        echo '==> step {{$i}}:{{if $script.description}} {{$script.description}}{{end}}'
        {
            {{$script.code}}
        } | indent; __essh_exit_status=${PIPESTATUS[0]}
        if [ $__essh_exit_status -ne 0 ]; then
            exit $__essh_exit_status
        fi
        {{end}}
    ]],
}
]=]

    it("render v3's engine templates, here and on the hosts, as using-drivers.md shows", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. MY_DRIVER .. [[
task "example" {
    driver = "my_driver",
    script = {
        { description = "output aaa", code = "echo aaa" },
        { description = "output bbb", code = "echo bbb" },
    },
}
task "remote" { backend = "remote", targets = "web01.localhost", driver = "my_driver",
  script = { "echo $ESSH_HOSTNAME", "exit 3", "echo never" } }
]] }
      assert.equal("==> step 0: output aaa\n    aaa\n==> step 1: output bbb\n    bbb\n",
        essh(dir, "example", { stdout_only = true }))
      local out, status = essh(dir, "remote", { stdout_only = true })
      assert.equal(1, status)
      assert.equal("==> step 0:\n    web01.localhost\n==> step 1:\n", out)
    end)

    it("replace the built-in driver when named default, and see .Driver, .Debug, .SSHConfigPath", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. [=[
driver "default" {
    greeting = "hi",
    engine = function(d)
        return [[{{template "environment" .}}{{template "functions" .}}
echo {{.Driver.Props.greeting}} from {{.Driver.Name}} debug={{.Debug}} {{if .Host}}{{.Host.Name}}{{else}}no host{{end}}
test "{{.SSHConfigPath}}" = "$ESSH_SSH_CONFIG" && type escp >/dev/null && echo functions defined
{{range .Scripts}}{{.code}}
{{end}}]]
    end,
}
task "plain" { script = "echo body" }
task "on" { targets = "db01.localhost", script = "echo body" }
]=] }
      assert.equal("hi from default debug=false no host\nfunctions defined\nbody\n",
        essh(dir, "plain", { stdout_only = true }))
      assert.equal("hi from default debug=true db01.localhost\nfunctions defined\nbody\n",
        essh(dir, "on --debug", { stdout_only = true }))
    end)
  end)

  describe("groups", function()
    it("give default fields to the tasks, hosts or drivers they hold, as groups.md shows", function()
      local dir = project { [".esshconfig.lua"] = ([=[
group {
    hidden = true,
    backend = "remote",
    targets = { "web" },
    task "foo" { script = "echo foo on $ESSH_HOSTNAME" },
    task "foo" { hidden = false, script = "echo foo again on $ESSH_HOSTNAME" },
    task "bar" { script = "echo bar" },
}
group {
    %s,
    host "web01" { tags = { "web" } },
    host "web02" { tags = { "web" }, description = "second" },
}
group { hosts = { db01 = { %s, tags = { "db" } } } }
group { tasks = { baz = { script = "echo baz on $ESSH_HOSTNAME" } }, targets = "db", backend = "remote" }
group { engine = [[{{range .Scripts}}echo driven: {{.code}}{{end}}]], drivers = { d1 = {}, d2 = {} } }
task "driven" { driver = "d2", script = "x" }
]=]):format(common, common) }
      assert.equal("foo again on web01\nfoo again on web02\n", (essh(dir, "foo", { stdout_only = true })
        :gsub("%[web0%d%] ", "")))
      local out = essh(dir, "--tasks")
      assert.matches("\nfoo\n", out)
      assert.not_matches("\nbar", out)
      assert.equal("baz on db01\n", essh(dir, "baz", { stdout_only = true }))
      assert.equal("driven: x\n", essh(dir, "driven", { stdout_only = true }))
      dir = project { [".esshconfig.lua"] = 'group { host "a" {}, task "b" "true" }\n' }
      out = essh(dir, "--hosts")
      assert.matches("a group holds one kind of definition", out)
    end)
  end)

  describe("definitions made twice", function()
    it("replace the earlier one, as override files rely on, and --debug says so with both places", function()
      local dir = project {
        [".esshconfig.lua"] = fleet() .. 'task "t" { script = "echo first" }\n',
        [".esshconfig_override.lua"] = 'task "t" { script = "echo second" }\nhost "db01.localhost" { HostName = "x" }\n',
      }
      assert.equal("second\n", essh(dir, "t", { stdout_only = true }))
      local out = essh(dir, "--debug --hosts")
      assert.matches("%[essh debug%] task t defined at [^\n]*%.esshconfig_override%.lua:1 replaces the one at [^\n]*"
        .. "%.esshconfig%.lua:5", out)
      assert.matches("Host db01%.localhost\n    HostName x\n", essh(dir, "--print"))
    end)

    it("refuse what v3.4 refused: a task named like a host, a tag named like a host", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. '\ntask "web01.localhost" { script = "true" }\n' }
      local out, status = essh(dir, "--tasks")
      assert.equal(2, status)
      assert.matches(":6: task web01%.localhost has the name of the host defined at [^\n]*:1", out)
      dir = project { [".esshconfig.lua"] = fleet() .. 'host "x" { tags = { "db01.localhost" } }\n' }
      out, status = essh(dir, "--hosts")
      assert.equal(2, status)
      assert.matches("host x has a tag db01%.localhost that is also the name of the host defined at", out)
    end)
  end)

  describe("the essh table", function()
    it("gives ssh_config for ProxyCommand, version, debug and current_registry", function()
      local gateway = ("host \"gateway\" { %s }\n"):format(common)
      local dir = project { [".esshconfig.lua"] = gateway .. [[
host "behind" {
    HostName = "127.0.0.1",
    Port = "]] .. server.port .. [[",
    User = "]] .. server.user .. [[",
    IdentityFile = "]] .. server.keys .. [[/id_ed25519",
    UserKnownHostsFile = "]] .. server.known_hosts .. [[",
    ProxyCommand = "ssh -q -F " .. essh.ssh_config .. " -W %h:%p gateway",
}
essh.debug("version " .. essh.version .. " registry " .. essh.current_registry():type())
]] }
      assert(fs.write(fs.join(home, ".essh", "config_override.lua"),
        'essh.debug("override registry " .. essh.current_registry():type())\n'))
      local out, status = essh(dir, "behind -- echo through the gateway", { stdout_only = true })
      assert.equal(0, status, out)
      assert.equal("through the gateway\n", out)
      out = essh(dir, "--debug --hosts")
      fs.remove(fs.join(home, ".essh", "config_override.lua"))
      assert.matches("%[essh debug%] version %d+%.%d+%.%d+ registry local\n", out)
      assert.matches("%[essh debug%] override registry global\n", out)
      assert.not_matches("version", (essh(dir, "--hosts")))
    end)

    it("writes the generated ssh_config where the config says, with --gen", function()
      local dir = project { [".esshconfig.lua"] = 'essh.ssh_config = "generated_config"\n' .. fleet() }
      local out, status = essh(dir, "--gen")
      assert.equal(0, status, out)
      local text = fs.read(fs.join(dir, "generated_config"))
      assert.matches("^Host cache01%.localhost\n", text)
      assert.matches("\nHost web02%.localhost\n    HostName 127%.0%.0%.1\n", text)
    end)
  end)

  describe("the command line", function()
    it("takes v3's flags for --exec: the command as the remaining words, --backend, --prefix-string, --pty,"
      .. " --script-file, --driver, --filter, --user", function()
      local dir = project {
        ["cmds.sh"] = "echo from a script file on $ESSH_HOSTNAME\n",
        [".esshconfig.lua"] = fleet() .. 'driver "loud" { engine = [[{{range .Scripts}}echo LOUD; {{.code}}{{end}}]] }\n',
      }
      local out, status = essh(dir, "--exec --backend=remote --target=web echo on '$ESSH_HOSTNAME'",
        { stdout_only = true })
      assert.equal(0, status, out)
      assert.equal("[web01.localhost] on web01.localhost\n[web02.localhost] on web02.localhost\n", out)
      out = essh(dir, "--exec --backend remote --target web --filter production --prefix-string '{{.Host.Name}}"
        .. "{{HostnameAlignString \"-\"}}> ' hostname", { stdout_only = true })
      assert.equal("web02.localhost-> " .. shell.must("hostname"), out)
      assert.matches("^/dev/pts/%d+", essh(dir, "--exec --backend=remote --target=db01.localhost --pty tty",
        { stdout_only = true }))
      assert.equal("from a script file on db01.localhost\n", essh(dir, "--exec --script-file --target=db01.localhost"
        .. " cmds.sh", { stdout_only = true }))
      assert.equal("LOUD\nhi\n", essh(dir, "--exec --driver=loud echo hi", { stdout_only = true }))
      out, status = essh(dir, "--exec --filter=web true")
      assert.equal(2, status)
      assert.matches("%-%-filter must be used with %-%-target", out)
      -- The flags of --exec, given to anything else, are refused rather than ignored.
      out, status = essh(dir, "--pty web01.localhost")
      assert.equal(2, status)
      assert.matches("%-%-pty works with %-%-exec", out)
    end)

    it("takes --working-dir, ESSH_CONFIG, --config with its override file, and prints usage without arguments", function()
      local dir = project {
        ["sub/.esshconfig.lua"] = 'task "where" { script = "pwd" }\n',
        ["other.lua"] = 'task "other" { script = "echo other" }\n',
        ["other_override.lua"] = 'task "other" { script = "echo other, overridden" }\n',
      }
      assert.equal(fs.realpath(fs.join(dir, "sub")) .. "\n", essh(dir, "--working-dir sub where", { stdout_only = true }))
      assert.equal("other, overridden\n", essh(dir, "--config other.lua other", { stdout_only = true }))
      assert.equal("other, overridden\n", essh(dir, "other", { stdout_only = true, env = "ESSH_CONFIG=other.lua" }))
      local out, status = essh(dir, "")
      assert.equal(0, status)
      assert.matches("^usage: essh", out)
    end)

    it("accepts every flag of v3.4's --help, each doing what it says", function()
      local dir = project { [".esshconfig.lua"] = fleet() .. 'task "t" { description = "a task", script = "echo t" }\n'
        .. 'task "h" { hidden = true, script = "true" }\n' }
      assert(fs.write(fs.join(home, ".essh", "config.lua"), 'task "global-task" "echo global"\n'))
      local cases = {
        { "--print", "^Host cache01%.localhost\n" },
        { "--gen", "^$" },
        { "--color --exec --target=web --prefix 'echo x'", "\27%[" },
        { "--no-color --exec --target=web --prefix 'echo x'", "^[^\27]*$" },
        { "--debug --tasks", "%[essh debug%] loading config file", stderr = true },
        { "--global --tasks --quiet", "^global%-task\n$" },
        { "--hosts --select=db --quiet", "^db01%.localhost\n$" },
        { "--hosts --select=web --filter=production --quiet", "^web02%.localhost\n$" },
        { "--hosts --select=db --ssh-config", "^Host db01%.localhost\n    HostName 127%.0%.0%.1\n" },
        { "--tasks", "\nt%s+a task\n" },
        { "--tasks --all --quiet", "\nh\n" },
        { "--tags", "\nproduction%s+web02%.localhost\n" },
        { "--exec --target=db --backend=local --parallel --prefix 'echo $ESSH_HOSTNAME'", "^%[local:db01%.localhost%] db01" },
        { "--exec --target=db --privileged --user=nobody --dry-run 'id -un'", "id %-un" },
        { "--zsh-completion", "#compdef essh" },
        { "--bash-completion", "complete %-F _essh essh" },
        { "--aliases", "function ersync%(%)" },
        { "--version", "^essh %d+%.%d+%.%d+" },
        { "--help", "%-%-prefix%-string TEMPLATE" },
      }
      for _, case in ipairs(cases) do
        local out, status = essh(dir, case[1], { stdout_only = not case.stderr })
        assert.equal(0, status, case[1] .. ": " .. tostring(out))
        assert.truthy(out:match(case[2]), case[1] .. ": " .. out)
      end
      fs.remove(fs.join(home, ".essh", "config.lua"))
    end)

    it("passes ssh options after (or before) HOST on to the connection", function()
      local dir = project { [".esshconfig.lua"] = ([[
host "moved" { HostName = "127.0.0.1", Port = "1", User = "nobody", IdentityFile = %q, UserKnownHostsFile = %q }
]]):format(server.keys .. "/id_ed25519", server.known_hosts) }
      local out, status = essh(dir, ("moved -p %d -l %s -o Compression=yes -- echo moved"):format(server.port,
        server.user), { stdout_only = true })
      assert.equal(0, status, out)
      assert.equal("moved\n", out)
      out = essh(dir, ("-p%d -l %s moved -t -t tty"):format(server.port, server.user), { stdout_only = true })
      assert.matches("^/dev/pts/%d+", out)
      out, status = essh(dir, "moved -f true")
      assert.equal(2, status)
      assert.matches("ssh option %-f %(go to the background%) is not supported", out)
      out, status = essh(dir, "-A --hosts")
      assert.equal(2, status)
      assert.matches("ssh options", out)
    end)

    it("gives --aliases whose escp copies with the generated ssh_config, as integrating-other-tools.md shows",
      function()
      local dir = project { [".esshconfig.lua"] = fleet(), ["payload.txt"] = "copied by escp\n" }
      local aliases = essh(dir, "--aliases", { stdout_only = true })
      assert.matches("function escp%(%)", aliases)
      local remote = ("/tmp/essh-escp-%d-%d.txt"):format(os.time(), math.random(1e6))
      -- The aliases call `essh`: a wrapper of this checkout's command stands in for it on PATH.
      local bin = fs.join(dir, "bin")
      assert(fs.mkdir(bin))
      assert(fs.write(fs.join(bin, "essh"), ("#!/bin/sh\nESSH_TRUST_ALL=1 LUA_PATH=%s LUA_CPATH=%s exec %s %s/bin/essh \"$@\"\n")
        :format(shell.quote(lua.path .. ";;"), shell.quote(lua.cpath .. ";;"), lua.interpreter, lua.checkout),
        { mode = tonumber("755", 8) }))
      local out, status = shell.run(("cd %s && HOME=%s PATH=%s:$PATH bash -c %s"):format(shell.quote(dir),
        shell.quote(home), shell.quote(bin), shell.quote(aliases .. "\nescp payload.txt web01.localhost:" .. remote)))
      assert.equal(0, status, out)
      assert.equal("copied by escp\n", fs.read(remote))
      fs.remove(remote)
    end)
  end)

  describe("the modules v3.4 shipped", function()
    it("load by their short names with v3's calls and return conventions", function()
      local dir = project {
        ["vars.env"] = "FROM_FILE=loaded\nexport QUOTED=\"a b\"\n",
        ["page.tmpl"] = "{{.name}} has {{len .items}} items",
        [".esshconfig.lua"] = [=[
local re, sh, yaml, env, fs, template, json, question =
  require "re", require "sh", require "yaml", require "env", require "fs", require "template", require "json",
  require "question"
local out = {}
local function say(...)
  local words = {}
  for i = 1, select("#", ...) do words[i] = tostring((select(i, ...))) end
  out[#out + 1] = table.concat(words, " ")
end
say(re.match("web01.localhost", [[^(\w+)\.]]), re.gsub("a1b22", [[\d+]], "#"))
say(tostring(re.find("hello", "l+")), tostring(re.match("x", "y")))
say(sh.echo("from", "sh"):stdout():gsub("\n", ""), tostring(sh("false"):success()))
local doc = yaml.parse("a: 1\nlist: [x, y]\n")
say(doc.a, doc.list[2], tostring(select(2, yaml.parse("a: [")) ~= nil))
say(env.loadfile("vars.env"), env.get("FROM_FILE"), env.get("QUOTED"), select(2, env.loadfile("none")) ~= nil)
say(tostring(fs.symlink("vars.env", "link.env")), tostring(fs.exists("link.env")), fs.getcwd() == fs.realpath("."))
say(template.dostring("{{.a}}-{{range .l}}{{.}}{{end}}", { a = "x", l = { 1, 2 } }), template.dofile(
  fs.dirname(fs.file()) .. "/page.tmpl", { name = "page", items = { 1, 2, 3 } }), tostring(select(2,
  template.dostring("{{.a", {})) ~= nil))
say(fs.file():match("[^/]+$"), fs.dir() == fs.dirname(fs.file()), tostring(fs.chdir("/")), fs.getcwd())
say(json.encode({ a = 1 }), json.decode('{"b": [2]}').b[1])
say(tostring(select(2, question.ask("? ")) ~= nil))
task "report" { script = "cat <<'EOF'\n" .. table.concat(out, "\n") .. "\nEOF" }
]=] }
      local out, status = essh(dir, "report </dev/null")
      assert.equal(0, status, out)
      assert.equal(table.concat({
        "web01 a#b# 2",
        "3 nil",
        "from sh false",
        "1 y true",
        "true loaded a b true",
        "true true true",
        "x-12 page has 3 items true",
        ".esshconfig.lua true true /",
        '{"a":1} 2',
        "true",
      }, "\n") .. "\n", out)
    end)
  end)

  describe("commands a config adds", function()
    it("run as essh NAME, listed by --help and completion", function()
      local dir = project { [".esshconfig.lua"] = [[
essh.command "greet" {
    description = "say hello to someone",
    run = function(args) print("hello " .. (args[1] or "nobody")) return #args end,
}
]] }
      local out, status = essh(dir, "greet you there", { stdout_only = true })
      assert.equal(2, status)
      assert.equal("hello you\n", out)
      assert.matches("\n  greet%s+say hello to someone\n", essh(dir, "--help"))
      assert.matches("greet:say hello to someone\n", essh(dir, "--complete=tasks"))
      dir = project { [".esshconfig.lua"] = 'task "greet" "true"\nessh.command "greet" { run = print }\n' }
      out, status = essh(dir, "greet")
      assert.equal(2, status)
      assert.matches("command greet has the name of the task defined at", out)
    end)
  end)
end)

