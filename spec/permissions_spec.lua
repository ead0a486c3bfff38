-- Permissions: each permission allowed and refused through the native functions inside a
-- scope (in this process: scopes end), then what only a whole process can show (the limits
-- of the command line, untrusted configs, trust, the audit) through bin/essh.
local native = require "essh_native"
local permissions = require "essh.permissions"
local sshd = require "support.sshd"
local lua = require "support.lua"
local shell = require "support.shell"
local json = require "essh.json"
local fs, process, env, http = native.fs, native.process, native.env, native.http

-- Runs fn inside `grants` (a task's permissions); returns what fn returns.
local function inside(grants, fn, registry)
  local policy = permissions.policy(grants, "the permissions of task test", { registry = registry })
  return select(2, permissions.within(policy, { task = "test" }, fn))
end

local function assert_denied(err, permission, action, resource)
  assert.is_not_nil(err, "expected a refusal")
  assert.equal("permission_denied", err.kind)
  assert.same({ permission = permission, action = action, resource = resource }, err.details)
end

describe("a permission", function()
  local dir
  setup(function()
    dir = fs.realpath(assert(fs.tempdir("essh-perm")))
    assert(fs.write(dir .. "/inside.txt", "in"))
  end)
  teardown(function() fs.remove(dir, { recursive = true }) end)

  it("read lets fs read below its paths and refuses the rest with the details", function()
    inside({ read = { dir } }, function()
      assert.equal("in", fs.read(dir .. "/inside.txt"))
      local data, err = fs.read("/etc/hostname")
      assert.is_nil(data)
      assert_denied(err, "read", "fs.read", "/etc/hostname")
      assert.matches("grant it", err.message)
    end)
  end)

  it("write is refused where only read is granted, and a refused write leaves no file", function()
    inside({ read = { dir } }, function()
      local ok, err = fs.write(dir .. "/new.txt", "x")
      assert.is_nil(ok)
      assert_denied(err, "write", "fs.write", dir .. "/new.txt")
    end)
    assert.is_false(fs.exists(dir .. "/new.txt"))
  end)

  it("run lets argv programs through by name and refuses a command line (the shell)", function()
    inside({ run = { "echo" } }, function()
      assert.equal("hi\n", process.run({ "echo", "hi" }).stdout)
      local r, err = process.run("echo hi")
      assert.is_nil(r)
      assert_denied(err, "run", "process.run", "sh")
    end)
  end)

  it("env shows the variables it names and hides the others", function()
    inside({ env = { "HOME" } }, function()
      assert.is_string(env.get("HOME"))
      local value, err = env.get("PATH")
      assert.is_nil(value)
      assert_denied(err, "env", "env.get", "PATH")
    end)
  end)

  it("net is read from the URL's host and port: a granted server answers, another is refused", function()
    local server = require("support.httpd").start()
    local ok, failure = pcall(inside, { net = { "127.0.0.1:" .. server.port } }, function()
      assert.equal(200, http.get(server.url .. "/hello").status)
      local r, err = http.get("http://127.0.0.1:9/")
      assert.is_nil(r)
      assert_denied(err, "net", "http.get", "127.0.0.1:9")
      r, err = http.request { url = "http://api.example.com/" }
      assert.is_nil(r)
      assert_denied(err, "net", "http.request", "api.example.com:80")
    end)
    server.stop()
    assert(ok, failure)
  end)

  it("answers queries as Deno does", function()
    inside({ net = { "api.example.com" } }, function()
      assert.same({ state = "granted", partial = false }, permissions.query("net", "api.example.com:443"))
      assert.same({ state = "denied", partial = true }, permissions.query("net"))
      assert.same({ state = "denied", partial = false }, permissions.query("write", "/tmp/x"))
    end)
    assert.same({ state = "granted", partial = false }, permissions.query("write", "/tmp/x"))
  end)

  it("names an unknown permission", function()
    assert.has_error(function() permissions.policy({ network = true }, "task x") end,
      "task x: unknown permission 'network' (known: read, write, net, ssh, run, env, storage, db, all)")
  end)

  it("never asks anything of deterministic functions", function()
    inside({}, function()
      assert.equal("[1]", native.json.encode({ 1 }))
      assert.equal("aGk=", native.base64.encode("hi"))
    end)
  end)
end)

describe("a task with ssh permissions", function()
  local server, registry, other
  setup(function()
    server = sshd.start()
    local dsl = require("essh.config").new()
    local function key(t)
      t.Port, t.User, t.IdentityFile, t.UserKnownHostsFile = server.port, server.user, server.keys .. "/id_ed25519",
        server.known_hosts
      return t
    end
    dsl.host("a", key { HostName = "127.0.0.1", tags = { "granted" } })
    dsl.host("b", key { HostName = "localhost" })
    registry = dsl.registry
    -- A session to b opened outside the task, which the task must not be able to use.
    other = assert(native.ssh.connect { host = "b", hostname = "localhost", port = server.port, user = server.user,
      identity_file = server.keys .. "/id_ed25519", known_hosts = "off", ssh_config = false })
  end)
  teardown(function()
    if other then other:close() end
    server.stop()
  end)

  it("reaches its hosts and no other, not even through a session opened elsewhere", function()
    local seen = {}
    local dsl = require("essh.config").new(registry)
    dsl.task("t", { targets = "granted", permissions = { ssh = { "granted" } }, script = function(t)
      seen.own = t:run("echo own").stdout
      local s, err = native.ssh.connect { host = "b", hostname = "localhost", port = server.port, user = server.user,
        identity_file = server.keys .. "/id_ed25519", known_hosts = "off", ssh_config = false }
      seen.connect, seen.connect_err = s, err
      seen.exec, seen.exec_err = other:exec("echo other")
    end })
    local report = require("essh.runner").run(registry, "t", { stdout = require("support.capture")(),
      stderr = require("support.capture")() })
    assert.is_true(report.ok, tostring(report.hosts.a and report.hosts.a.error))
    assert.equal("own\n", seen.own)
    assert.is_nil(seen.connect)
    assert_denied(seen.connect_err, "ssh", "ssh.connect", "b")
    assert.is_nil(seen.exec)
    assert_denied(seen.exec_err, "ssh", "session:exec", "b")
    local kinds = {}
    for _, d in ipairs(report.hosts.a.denied) do kinds[#kinds + 1] = d.action end
    assert.same({ "ssh.connect", "session:exec" }, kinds)
    -- Outside the task, the session works again.
    assert.equal("other\n", other:exec("echo other").stdout)
  end)
end)

describe("the essh command", function()
  local dir, home

  local function essh(args, extra_env)
    local command = ("cd %s && HOME=%s NO_COLOR=1 %s LUA_PATH='%s;;' LUA_CPATH='%s;;' %s %s/bin/essh %s"):format(
      dir, home, extra_env or "", lua.path, lua.cpath, lua.interpreter, lua.checkout, args)
    return shell.run(command)
  end

  before_each(function()
    dir, home = fs.realpath(assert(fs.tempdir("essh-trust"))), assert(fs.tempdir("essh-home"))
  end)
  after_each(function()
    fs.remove(dir, { recursive = true })
    fs.remove(home, { recursive = true })
  end)

  it("loads an untrusted config for listings only, and trusts it once told, until it changes", function()
    assert(fs.write(dir .. "/.esshconfig.lua", 'task "hello" { description = "says hi", script = "echo hi" }\n'))
    local out, code = essh("hello")
    assert.equal(2, code)
    assert.matches("is not trusted .* run `essh %-%-trust`", out)
    assert.matches("hello%s+says hi", (essh("--tasks")))
    out, code = essh("--trust")
    assert.equal(0, code, out)
    local digest = native.crypto.file_digest(dir .. "/.esshconfig.lua", "sha256", "hex")
    assert.matches(digest, out, 1, true)
    assert.equal(digest .. "  " .. dir .. "/.esshconfig.lua\n", fs.read(home .. "/.essh/trusted"))
    assert.equal(384, fs.stat(home .. "/.essh/trusted").mode)
    out, code = essh("hello")
    assert.equal(0, code, out)
    assert.matches("hi", out)
    assert(fs.append(dir .. "/.esshconfig.lua", "-- changed\n"))
    out, code = essh("hello")
    assert.equal(2, code)
    assert.matches("not trusted", out)
    assert.equal(0, select(2, essh("--trust-once hello")))
    assert.equal(0, select(2, essh("hello", "ESSH_TRUST_ALL=1")))
    essh("--trust")
    assert.equal(0, select(2, essh("hello")))
  end)

  it("lets a hostile untrusted config achieve nothing while it is listed or completed", function()
    local port_file, seen = dir .. "/port", dir .. "/seen"
    local listener = io.popen(("python3 -c \"import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1',0)); "
      .. "open(sys.argv[1],'w').write(str(s.getsockname()[1])); s.listen(); s.settimeout(60)\ntry:\n  c,_=s.accept(); "
      .. "open(sys.argv[2],'w').write('connected')\nexcept Exception: pass\" %s %s & echo $!"):format(port_file, seen))
    local pid = listener:read("*l")
    listener:close()
    while not fs.exists(port_file) or fs.read(port_file) == "" do native.runtime.sleep(0.05) end
    local port = fs.read(port_file)
    local outside = home .. "/outside"
    assert(fs.write(home .. "/keep", "keep"))
    assert(fs.write(dir .. "/.esshconfig.lua", ([=[
local attempts = {
  io_open = function() return io.open(%q, "w") end,
  io_popen = function() return io.popen("touch %s") end,
  os_execute = function() return os.execute("touch %s") end,
  os_remove = function() return os.remove(%q) end,
  os_rename = function() return os.rename(%q, %q) end,
  os_exit = function() return os.exit(3) end,
  loadlib = function() return package.loadlib("libc.so.6", "system") end,
  c_module = function() package.cpath = "/nonexistent/?.so"; return require "essh_native_fake" end,
  binary_chunk = function() return load("\27LuaQ garbage") end,
  debug = function() return debug.getinfo(1) end,
  string_dump = function() return string.dump(function() end) end,
  string_meta = function() return getmetatable("").__index end,
  setmetatable = function() return setmetatable(require("essh_native").json, {}) end,
  rawset = function() return rawset(require("essh_native").json, "encode", print) end,
  real_g = function() return _G.io ~= io and "escaped" or nil end,
  loaded_g = function() return package.loaded._G.io ~= io and "escaped" or nil end,
  fs_write = function() local ok = require("essh.fs").write(%q, "x"); return ok end,
  http = function() local r = require("essh.http").get("http://127.0.0.1:%s/"); return r end,
  ssh = function() return require("essh_native").ssh.connect { host = "127.0.0.1", port = %s, ssh_config = false } end,
  process = function() return require("essh_native").process.run({ "touch", %q }) end,
  patched_checks = function()
    local p = require "essh.permissions"
    p.check, p.restricted = function() return true end, function() return false end
    return io.open(%q, "w")
  end,
  template_file = function() return require("essh.template").dofile("/etc/passwd") end,
  self_trust = function() return require("essh.cli").main({ "--trust" }) == 0 end,
  audit_log = function() return require("essh.permissions").audit(%q) end,
}
local names = {}
for name in pairs(attempts) do names[#names + 1] = name end
table.sort(names)
for _, name in ipairs(names) do
  local ok, result = pcall(attempts[name])
  local outcome = (ok and result) and "achieved" or "refused"
  task(name .. "_" .. outcome) { description = name }
end
local secret = os.getenv("ESSH_TEST_SECRET")
task("getenv_" .. (secret and "achieved" or "refused")) {}
]=]):format(outside, outside, outside, home .. "/keep", home .. "/keep", outside, outside, port, port, outside,
      outside, outside)))
    for _, listing in ipairs { "--complete=tasks", "--tasks", "--hosts" } do
      local out = essh(listing, "ESSH_TEST_SECRET=s3cret")
      if listing ~= "--hosts" then
        assert.not_matches("achieved", out)
        assert.matches("io_open_refused", out)
        assert.matches("getenv_refused", out)
        assert.matches("http_refused", out)
        assert.matches("patched_checks_refused", out)
        assert.matches("self_trust_refused", out)
      end
    end
    shell.run("kill " .. pid)
    assert.is_false(fs.exists(outside))
    assert.is_false(fs.exists(seen), "the listener saw a connection")
    assert.equal("keep", fs.read(home .. "/keep"))
    assert.is_false(fs.exists(home .. "/.essh/trusted"))
  end)

  it("limits everything after essh.permissions in a config, its ssh grant included", function()
    assert(fs.write(dir .. "/.esshconfig.lua", [[
essh.permissions { ssh = { "granted" }, run = true, env = true, read = true }
host "a" { HostName = "127.0.0.1", Port = 1, tags = { "granted" }, ConnectTimeout = 2 }
host "b" { HostName = "127.0.0.2", Port = 1, ConnectTimeout = 2 }
task "write" { script = function() local ok, err = require("essh.fs").write("x.txt", "x"); error(err) end }
]]))
    local out, code = essh("--trust-once write")
    assert.equal(1, code, out)
    assert.matches("fs.write needs write access to x.txt, which essh.permissions at .esshconfig.lua:1 does not grant",
      out, 1, true)
    assert.is_false(fs.exists(dir .. "/x.txt"))
    out = essh("--trust-once --exec --backend remote --target a --target b true")
    assert.matches("ssh.connect needs ssh access to b", out, 1, true)
    assert.not_matches("ssh access to a[ ,]", out)
  end)

  it("never runs a prepare function or a hook for a listing, trusted or not", function()
    assert(fs.write(dir .. "/.esshconfig.lua", ([[
host "h" { HostName = "127.0.0.1", hooks_before_connect = { function() io.open(%q, "w"):close() return "true" end } }
task "t" { description = "d", prepare = function() io.open(%q, "w"):close() end, script = "true" }
]]):format(dir .. "/hooked", dir .. "/prepared")))
    for _, listing in ipairs { "--tasks", "--hosts", "--complete=tasks", "--complete=hosts", "--tags" } do
      essh(listing)
      essh(listing, "ESSH_TRUST_ALL=1")
    end
    assert.is_false(fs.exists(dir .. "/hooked"))
    assert.is_false(fs.exists(dir .. "/prepared"))
  end)

  it("writes one JSON line per decision to --audit and lists denials in the report", function()
    assert(fs.write(dir .. "/.esshconfig.lua", 'task "t" { script = "echo hi" }\n'))
    local out, code = essh("--trust-once --allow-net=x --audit=" .. dir .. "/audit.log --exec --backend local echo hi")
    assert.equal(1, code, out)
    assert.matches("denied: run sh %(process.run%)", out)
    local lines, refused = 0, nil
    for line in fs.read(dir .. "/audit.log"):gmatch("[^\n]+") do
      local entry = assert(json.decode(line))
      lines = lines + 1
      assert.is_string(entry.time)
      if entry.allowed == false and entry.permission == "run" then refused = entry end
    end
    assert.is_true(lines > 1)
    assert.same({ "--exec", "localhost", "sh", "process.run", "the command line" },
      { refused.task, refused.host, refused.resource, refused.action, refused.denied_by })
  end)
end)
