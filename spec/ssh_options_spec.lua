-- ssh_config keywords the native client applies, each against the suite's real sshd; and every
-- keyword of the installed ssh_config(5) either applied or reported.
local ssh = require "essh_native.ssh"
local native = require "essh_native"
local env = require "essh_native.env"
local http = require "essh_native.http"
local sshd = require "support.sshd"
local httpd = require "support.httpd"
local shell = require "support.shell"

-- Collects native warnings while `fn` runs.
local function warnings_of(fn)
  local seen = {}
  local previous = native.on_warning(function(text) seen[#seen + 1] = text end)
  local ok, err = pcall(fn)
  native.on_warning(previous)
  if not ok then error(err, 0) end
  return seen
end

local function agent()
  local dir = shell.must("mktemp -d /tmp/essh-agent.XXXXXX"):gsub("%s+$", "")
  local socket = dir .. "/agent.sock"
  local pid = shell.must(("ssh-agent -a %s -s"):format(socket)):match("SSH_AGENT_PID=(%d+)")
  return {
    socket = socket,
    add = function(key) shell.must(("SSH_AUTH_SOCK=%s ssh-add -q %s"):format(socket, key)) end,
    stop = function() shell.run("kill " .. pid .. "; rm -rf " .. dir) end,
  }
end

local function fingerprint(pub)
  return shell.must("ssh-keygen -lf " .. pub):match("(SHA256:%S+)")
end

describe("ssh_config keywords the native client applies", function()
  local server
  setup(function() server = sshd.start() end)
  teardown(function() server.stop() end)

  local function connect(options, extra)
    extra = extra or {}
    extra.options = options
    return ssh.connect(server.options(extra))
  end

  it("ProxyCommand: the command's pipes carry the connection (nc, and ssh -W through a second sshd)", function()
    local marker = os.tmpname()
    finally(function() os.remove(marker) end)
    -- HostName names nothing: only the command knows the way.
    local s, err = connect({
      HostName = "nowhere.invalid", HostKeyAlias = "127.0.0.1",
      ProxyCommand = ("sh -c 'echo %%h >> %s; exec nc 127.0.0.1 %%p'"):format(marker),
    })
    assert.is_nil(err)
    assert.equal("through nc\n", s:exec("echo through nc").stdout)
    s:close()
    assert.equal("nowhere.invalid\n", io.open(marker):read("*a"))

    local bastion = sshd.start()
    finally(bastion.stop)
    local via = ("ssh -F none -i %s/id_ed25519 -o BatchMode=yes -o UserKnownHostsFile=%s -p %d -l %s 127.0.0.1 -W 127.0.0.1:%%p")
      :format(server.keys, bastion.known_hosts, bastion.port, bastion.user)
    s, err = connect({ HostName = "nowhere.invalid", HostKeyAlias = "127.0.0.1", ProxyCommand = via })
    assert.is_nil(err)
    assert.equal("through ssh -W\n", s:exec("echo through ssh -W").stdout)
    s:close()
  end)

  it("ProxyCommand: a command that fails is a network error naming it", function()
    local s, err = connect({ ProxyCommand = "sh -c 'exit 3'" })
    assert.is_nil(s)
    assert.equal("network", err.kind)
    assert.matches("ProxyCommand 'sh -c 'exit 3'' ended with exit status: 3", err.message, 1, true)
  end)

  it("ProxyCommand: a command that is gone before the client writes does not end the interpreter (SIGPIPE)", function()
    for _ = 1, 20 do
      local s, err = connect({ ProxyCommand = "true" })
      assert.is_nil(s)
      assert.equal("network", err.kind)
    end
  end)

  it("SendEnv sends the variables it names (sshd's AcceptEnv takes them); SetEnv sets its own", function()
    env.set("ESSH_SENT", "from here")
    env.set("ESSH_NOT_SENT", "kept here")
    finally(function() env.unset("ESSH_SENT") env.unset("ESSH_NOT_SENT") end)
    local s = assert(connect({ SendEnv = { "ESSH_S*", "NOTHING" }, SetEnv = 'ESSH_SET="two words" ESSH_OTHER=1' }))
    assert.equal("from here|two words|1|\n", s:exec('echo "$ESSH_SENT|$ESSH_SET|$ESSH_OTHER|$ESSH_NOT_SENT"').stdout)
    s:close()
  end)

  it("RequestTTY force gives commands a terminal; RequestTTY no refuses one asked for", function()
    local s = assert(connect({ RequestTTY = "force" }))
    assert.matches("^/dev/pts/%d+", s:exec("tty").stdout)
    s:close()
    s = assert(connect({ RequestTTY = "no" }))
    assert.equal("not a tty\n", s:exec("tty", { pty = true }).stdout)
    s:close()
  end)

  it("Ciphers, KexAlgorithms and MACs: matching lists connect, a list without the server's fails", function()
    local strict = sshd.start({ extra = { "Ciphers aes128-ctr", "KexAlgorithms diffie-hellman-group14-sha256",
      "MACs hmac-sha2-256" } })
    finally(strict.stop)
    local s, err = ssh.connect(strict.options({ options = {
      Ciphers = "aes128-ctr,aes256-gcm@openssh.com", KexAlgorithms = "diffie-hellman-group14-sha256",
      MACs = "hmac-sha2-256",
    } }))
    assert.is_nil(err)
    assert.equal(0, s:exec("true").exitStatus)
    s:close()
    for _, options in ipairs { { Ciphers = "aes256-gcm@openssh.com" }, { KexAlgorithms = "curve25519-sha256" },
      { MACs = "hmac-sha2-512-etm@openssh.com" } } do
      s, err = ssh.connect(strict.options({ options = options }))
      assert.is_nil(s)
      assert.equal("network", err.kind)
    end
  end)

  it("BatchMode against a password-only server fails at once with auth", function()
    local password_only = sshd.start({ extra = { "PubkeyAuthentication no" } })
    finally(password_only.stop)
    local t0 = require("essh_native.runtime").monotonic()
    local s, err = ssh.connect(password_only.options({ options = { BatchMode = "yes" } }))
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    assert.is_true(require("essh_native.runtime").monotonic() - t0 < 3)
  end)

  it("IdentitiesOnly: an agent's other keys are not offered", function()
    local a = agent()
    finally(a.stop)
    a.add(server.keys .. "/id_ecdsa")
    local base = { IdentityAgent = a.socket, IdentityFile = server.keys .. "/id_unlisted" }
    local s, err = connect(base, { agent = sshd.NONE, identity_file = sshd.NONE })
    assert.is_nil(err, "the agent's key logs in when IdentitiesOnly is off")
    s:close()
    base.IdentitiesOnly = "yes"
    s, err = connect(base, { agent = sshd.NONE, identity_file = sshd.NONE })
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    assert.matches("tried: key " .. server.keys .. "/id_unlisted;", err.message, 1, true)
    assert.is_nil(err.message:find("agent key", 1, true))
    -- IdentityAgent none: no agent at all.
    s, err = connect({ IdentityAgent = "none", IdentityFile = server.keys .. "/id_unlisted" },
      { agent = sshd.NONE, identity_file = sshd.NONE })
    assert.is_nil(s)
    assert.is_nil(err.message:find("agent key", 1, true))
  end)

  it("ForwardAgent: the remote side reaches the local agent, and only when asked", function()
    local a = agent()
    finally(a.stop)
    a.add(server.keys .. "/id_ecdsa")
    local s = assert(connect({ IdentityAgent = a.socket, ForwardAgent = "yes" }))
    local listed = s:exec("ssh-add -l")
    assert.equal(0, listed.exitStatus, listed.stderr)
    assert.truthy(listed.stdout:find(fingerprint(server.keys .. "/id_ecdsa.pub"), 1, true))
    s:close()
    s = assert(connect({ IdentityAgent = a.socket }))
    assert.are_not.equal(0, s:exec("ssh-add -l").exitStatus)
    s:close()
  end)

  it("RemoteForward: a remote connection comes back to a local server", function()
    local web = httpd.start()
    finally(web.stop)
    local port = shell.free_port()
    local s = assert(connect({ RemoteForward = ("%d 127.0.0.1:%d"):format(port, web.port) }))
    local got = s:exec(("curl -s http://127.0.0.1:%d/hello"):format(port))
    assert.equal("hello", got.stdout)
    s:close()
  end)

  it("LocalForward: a local port reaches the server's side for as long as the connection", function()
    local web = httpd.start()
    finally(web.stop)
    local port = shell.free_port()
    local s = assert(connect({ LocalForward = ("%d 127.0.0.1:%d"):format(port, web.port) }))
    local r = assert(http.get(("http://127.0.0.1:%d/hello"):format(port)))
    assert.equal("hello", r.body)
    s:close()
    local gone = http.get(("http://127.0.0.1:%d/hello"):format(port), { timeout = 2 })
    assert.is_nil(gone)
  end)

  it("ExitOnForwardFailure: a forward that cannot be set up fails the connection; otherwise a warning", function()
    local busy = server.port -- sshd listens there already
    local s, err = connect({ LocalForward = ("%d 127.0.0.1:1"):format(busy), ExitOnForwardFailure = "yes" })
    assert.is_nil(s)
    assert.matches("LocalForward " .. busy, err.message, 1, true)
    local seen = warnings_of(function()
      s = assert(connect({ LocalForward = ("%d 127.0.0.1:1"):format(busy) }))
      s:close()
    end)
    assert.matches("LocalForward " .. busy, table.concat(seen, "\n"), 1, true)
  end)

  it("UserKnownHostsFile: several files, the host key in any of them", function()
    local s, err = connect({ UserKnownHostsFile = { "/nonexistent/known_hosts", server.known_hosts } },
      { known_hosts_file = sshd.NONE })
    assert.is_nil(err)
    s:close()
    s, err = connect({ UserKnownHostsFile = "/nonexistent/known_hosts" }, { known_hosts_file = sshd.NONE })
    assert.is_nil(s)
    assert.equal("host_key", err.kind)
  end)

  it("CheckHostIP: the address's key is recorded, and one that differs is refused or reported", function()
    local kh = os.tmpname()
    finally(function() os.remove(kh) end)
    local function write(text) local f = assert(io.open(kh, "w")) f:write(text) f:close() end
    write(("[localhost]:%d %s\n"):format(server.port, server.host_key))
    local options = { HostName = "localhost", AddressFamily = "inet", CheckHostIP = "yes", UserKnownHostsFile = kh }
    local s, err = connect(options, { known_hosts_file = sshd.NONE })
    assert.is_nil(err)
    s:close()
    local recorded = io.open(kh):read("*a")
    assert.truthy(recorded:find(("[127.0.0.1]:%d ssh-ed25519"):format(server.port), 1, true), recorded)
    -- Another key for the address: refused when strict, a warning under accept-new.
    local other = io.open(server.keys .. "/id_ed25519.pub"):read("*l"):match("^(%S+ %S+)")
    write(("[localhost]:%d %s\n[127.0.0.1]:%d %s\n"):format(server.port, server.host_key, server.port, other))
    s, err = connect(options, { known_hosts_file = sshd.NONE })
    assert.is_nil(s)
    assert.equal("host_key", err.kind)
    assert.matches("CheckHostIP", err.message, 1, true)
    options.StrictHostKeyChecking = "accept-new"
    local seen = warnings_of(function()
      s = assert(connect(options, { known_hosts_file = sshd.NONE }))
      s:close()
    end)
    assert.matches("differs from the key", table.concat(seen, "\n"), 1, true)
  end)

  it("BindAddress, Compression and TCPKeepAlive: the connection works as asked", function()
    local s, err = connect({ BindAddress = "127.0.0.1", Compression = "yes", TCPKeepAlive = "no" })
    assert.is_nil(err)
    -- The server sees the connection coming from the bound address.
    assert.matches("^127%.0%.0%.1 ", s:exec("echo $SSH_CLIENT").stdout)
    assert.equal(("x"):rep(100000), s:exec("head -c 100000 /dev/zero | tr '\\0' x").stdout)
    s:close()
    s, err = connect({ BindAddress = "192.0.2.1" })
    assert.is_nil(s)
    assert.equal("network", err.kind)
  end)

  it("PreferredAuthentications, PubkeyAuthentication and NumberOfPasswordPrompts choose the methods", function()
    local s, err = connect({ PubkeyAuthentication = "no" })
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    assert.is_nil(err.message:find("tried: key", 1, true), err.message)
    s, err = connect({ PreferredAuthentications = "password" })
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    if server.password then
      s, err = connect({ PreferredAuthentications = "password,publickey" }, { password = server.password })
      assert.is_nil(err)
      s:close()
      s, err = connect({ PreferredAuthentications = "password", NumberOfPasswordPrompts = 0 },
        { password = server.password })
      assert.is_nil(s)
      assert.equal("auth", err.kind)
    end
  end)

  it("ConnectionAttempts tries again; ConnectTimeout bounds each try", function()
    local closed = shell.free_port()
    local t0 = require("essh_native.runtime").monotonic()
    local s, err = ssh.connect(server.options({ port = closed, options = { ConnectionAttempts = 2 } }))
    assert.is_nil(s)
    assert.equal("network", err.kind)
    assert.is_true(require("essh_native.runtime").monotonic() - t0 >= 1, "a second attempt a second later")
  end)
end)

describe("authentication with its round trips saved (pipelining)", function()
  local server
  setup(function() server = sshd.start() end)
  teardown(function() server.stop() end)

  it("logs in with a signed first request, pipelined or not", function()
    for _, pipelining in ipairs { true, false, { auth = false }, { signature = false } } do
      local s, err = ssh.connect(server.options({ pipelining = pipelining }))
      assert.is_nil(err)
      assert.equal("ok\n", s:exec("echo ok").stdout)
      s:close()
    end
  end)

  it("goes on to the next key when the server refuses a signed one", function()
    local s, err = ssh.connect(server.options({
      identity_file = { server.keys .. "/id_unlisted", server.keys .. "/id_ecdsa" } }))
    assert.is_nil(err)
    s:close()
    s, err = ssh.connect(server.options({ identity_file = { server.keys .. "/id_unlisted" } }))
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    assert.matches("the server accepts: publickey", err.message, 1, true)
  end)

  it("takes a partial success (publickey, then password)", function()
    if not server.password then return pending("not root: no test user with a password") end
    local both = sshd.start({ extra = { "AuthenticationMethods publickey,password" } })
    finally(both.stop)
    local s, err = ssh.connect(both.options({ password = both.password }))
    assert.is_nil(err)
    assert.equal(0, s:exec("true").exitStatus)
    s:close()
    s, err = ssh.connect(both.options())
    assert.is_nil(s)
    assert.equal("auth", err.kind)
  end)

  it("works with a server that prefers another key exchange, and with a certificate", function()
    local other = sshd.start({ extra = {
      "KexAlgorithms sntrup761x25519-sha512@openssh.com,diffie-hellman-group14-sha256,curve25519-sha256" } })
    finally(other.stop)
    local s, err = ssh.connect(other.options())
    assert.is_nil(err)
    s:close()
    s, err = ssh.connect(other.options({ identity_file = other.keys .. "/id_certified" }))
    assert.is_nil(err)
    s:close()
  end)
end)

describe("every ssh_config(5) keyword", function()
  -- A value for each keyword the native client does not apply that asks for what it lacks.
  local SAMPLES = {
    AddKeysToAgent = "yes", BindInterface = "lo", CanonicalDomains = "example.com",
    CanonicalizeFallbackLocal = "no", CanonicalizeHostname = "yes", CanonicalizeMaxDots = "2",
    CanonicalizePermittedCNAMEs = "*.a.example:*.b.example", CASignatureAlgorithms = "ssh-ed25519",
    ChannelTimeout = "session=5m", CheckHostIP = "yes", ControlMaster = "auto", ControlPath = "/tmp/cm-%C",
    ControlPersist = "5m", DynamicForward = "1080", EnableEscapeCommandline = "yes", EnableSSHKeysign = "yes",
    EscapeChar = "^]", FingerprintHash = "md5", ForkAfterAuthentication = "yes", ForwardX11 = "yes",
    ForwardX11Timeout = "5m", ForwardX11Trusted = "yes", GatewayPorts = "yes", GSSAPIAuthentication = "yes",
    GSSAPIClientIdentity = "me@REALM", GSSAPIDelegateCredentials = "yes", GSSAPIKeyExchange = "yes",
    GSSAPIKexAlgorithms = "gss-group14-sha256-", GSSAPIRenewalForcesRekey = "yes", GSSAPIServerIdentity = "host@REALM",
    GSSAPITrustDns = "yes", HostbasedAcceptedAlgorithms = "ssh-ed25519", HostbasedAuthentication = "yes",
    IPQoS = "af21 cs1", KbdInteractiveDevices = "pam", KnownHostsCommand = "/bin/true %h",
    LocalCommand = "echo hi", LogVerbose = "kex.c:*", NoHostAuthenticationForLocalhost = "yes",
    ObscureKeystrokeTiming = "interval:20", PermitLocalCommand = "yes", PermitRemoteOpen = "localhost:8080",
    PKCS11Provider = "/usr/lib/pkcs11.so", ProxyUseFdpass = "yes", RekeyLimit = "1G 1h", RemoteCommand = "uptime",
    RequiredRSASize = "2048", RevokedHostKeys = "/etc/ssh/revoked", SecurityKeyProvider = "/usr/lib/sk.so",
    SessionType = "none", StdinNull = "yes", StreamLocalBindMask = "0111", StreamLocalBindUnlink = "yes",
    SyslogFacility = "AUTH", Tunnel = "yes", TunnelDevice = "any:any", UpdateHostKeys = "yes",
    VerifyHostKeyDNS = "yes", VisualHostKey = "yes", XAuthLocation = "/usr/bin/xauth",
  }

  local function man_keywords()
    local text = shell.must("zcat /usr/share/man/man5/ssh_config.5.gz")
    local out = {}
    for name in text:gmatch("\n%.It Cm (%w+)") do out[#out + 1] = name end
    return out
  end

  it("is known, and either applied or reported once a run, naming the host", function()
    local keywords = {}
    for _, k in ipairs(ssh.keywords()) do keywords[k.name:lower()] = k end
    local documented = man_keywords()
    assert.is_true(#documented > 90, "ssh_config(5) lists " .. #documented)
    for _, name in ipairs(documented) do
      assert.truthy(keywords[name:lower()], "ssh_config(5) documents " .. name .. ", which essh does not know")
    end
    for _, k in ipairs(ssh.keywords()) do
      if not k.applied and not k.obsolete then
        local value = SAMPLES[k.name]
        assert.truthy(value, "no sample value for " .. k.name)
        local options = { host = "walk-" .. k.name, hostname = "127.0.0.1", port = shell.free_port(), ssh_config = false,
          agent = false, connect_timeout = 2, options = { [k.name] = value } }
        local seen = warnings_of(function() ssh.connect(options) end)
        assert.equal(1, #seen, k.name .. ": " .. table.concat(seen, " / "))
        assert.matches("host walk%-" .. k.name .. ": the native client does not support " .. k.name, seen[1])
        assert.matches('ssh_backend = "openssh"', seen[1], 1, true)
        -- Once a run: the same keyword on another host says nothing more.
        options.host = "walk-again"
        assert.same({}, warnings_of(function() ssh.connect(options) end), k.name)
      end
    end
  end)

  it("a keyword set to what the native client does anyway is not reported", function()
    local seen = warnings_of(function()
      ssh.connect({ host = "quiet", hostname = "127.0.0.1", port = shell.free_port(), ssh_config = false, agent = false,
        connect_timeout = 2, options = { ForwardX11 = "no", GSSAPIAuthentication = "no", ControlMaster = "no" } })
    end)
    assert.same({}, seen)
  end)
end)
