-- essh -G against OpenSSH's own ssh -G: the same ssh_config files (and DSL hosts) must resolve
-- to the same values, line for line, on every keyword the native client applies.
local shell = require "support.shell"
local lua = require "support.lua"
local values = require "support.values"
local fs = require "essh.fs"
local native_ssh = require("essh_native").ssh

local checkout = lua.checkout
local dir = values.tempname()
os.remove(dir)
fs.mkdir(dir, { parents = true })

-- The home directory OpenSSH uses is the passwd entry's; essh's is $HOME: they must agree here.
local home = assert(shell.must("getent passwd $(id -u) | cut -d: -f6"):match("[^\n]+"))

-- The keywords the native client applies, as ssh -G prints them; the native client has its own
-- defaults for a few (compared only when a config sets them).
local APPLIED = { host = true, user = true, hostname = true, port = true }
for _, k in ipairs(native_ssh.keywords()) do
  if k.applied then APPLIED[k.name:lower()] = true end
end
local OWN_DEFAULTS = { ciphers = true, kexalgorithms = true, macs = true, hostkeyalgorithms = true,
  pubkeyacceptedalgorithms = true, connecttimeout = true, serveraliveinterval = true }

local function lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do
    local key = line:match("^(%S+)")
    if APPLIED[key] then out[#out + 1] = line end
  end
  return out
end

local function ssh_g(file, destination)
  return shell.must(("ssh -F %s -G %s 2>/dev/null"):format(shell.quote(file), shell.quote(destination)))
end

local OPENSSH_DEFAULTS = {}
for _, line in ipairs(lines(ssh_g("/dev/null", "defaults.invalid"))) do OPENSSH_DEFAULTS[line] = true end

local function essh_g(file, destination, cwd)
  local command = ("cd %s && HOME=%s ESSH_TRUST_ALL=1 LUA_PATH=%s LUA_CPATH=%s %s %s/bin/essh -F %s -G %s"):format(
    shell.quote(cwd or dir), shell.quote(home), shell.quote(lua.path .. ";;"), shell.quote(lua.cpath .. ";;"),
    lua.interpreter, checkout, shell.quote(file), shell.quote(destination))
  return shell.must(command)
end

-- The lines of both that must agree: a keyword with a native default of its own only when ssh
-- shows a value other than its default.
local function compared(theirs, ours)
  local a, b = {}, {}
  local skip = {}
  for _, line in ipairs(lines(theirs)) do
    local key = line:match("^(%S+)")
    if OWN_DEFAULTS[key] and OPENSSH_DEFAULTS[line] then skip[key] = true end
  end
  for _, line in ipairs(lines(theirs)) do
    if not skip[line:match("^(%S+)")] then a[#a + 1] = line end
  end
  for _, line in ipairs(lines(ours)) do
    if not skip[line:match("^(%S+)")] then b[#b + 1] = line end
  end
  return a, b
end

local function write(name, text)
  local path = fs.join(dir, name)
  fs.mkdir(fs.dirname(path), { parents = true })
  fs.write(path, (text:gsub("@DIR@", dir)))
  return path
end

-- Each case: a config, the destinations to resolve with it.
local CASES = {
  {
    name = "Host patterns, negation, lists and the first value winning",
    config = [[
Host web? !web9 db*
  User deploy
  Port 2201
Host web*,other
  User later
  HostName %h.example.com
Host *
  User fallback
  IdentityFile ~/.ssh/id_all
]],
    destinations = { "web1", "web9", "db-main", "web10", "other", "unmatched", "WEB1" },
  },
  {
    name = "Include with globs, inside active and inactive blocks",
    files = {
      ["inc/a.conf"] = "Host inc*\n  User from-a\n  Port 2301\n",
      ["inc/b.conf"] = "Host *\n  ServerAliveCountMax 7\n",
      ["more/only.conf"] = "Host other\n  Port 2302\n",
    },
    config = [[
Include @DIR@/inc/*.conf
Host inc1
  Include @DIR@/more/*.conf
Host other
  Include @DIR@/more/only.conf
Host *
  User last
]],
    destinations = { "inc1", "other", "none" },
  },
  {
    name = "Match host, originalhost, user, localuser, exec, all and final",
    config = [[
Host m1
  HostName real.example
Match host real.example user !nobody
  Port 2401
Match originalhost m2,!m3
  User orig
Match localuser nobody-here
  Port 9
Match exec "test %h = m4"
  Port 2402
Match !exec false originalhost m5
  User not-false
Match final host final.example
  Port 2403
Host m6
  HostName final.example
Match all
  ConnectionAttempts 2
]],
    destinations = { "m1", "m2", "m3", "m4", "m5", "m6", "root@m1", "nobody@m1" },
  },
  {
    name = "Tokens and environment variables",
    config = [[
Host t1
  HostName %h.tokens.example
  User tok
  Port 2501
  UserKnownHostsFile ~/kh-%h-%p-%r-%u-%n %d/kh-%L %d/kh-%l-%i-%C-%%
  IdentityFile ~/.ssh/id-%h-%r
  CertificateFile ~/.ssh/id-%h-cert.pub
  IdentityAgent ${HOME}/agent-%h.sock
  ControlPath ~/.ssh/cm-%C
]],
    destinations = { "t1", "someone@t1" },
  },
  {
    name = "Keywords that add: IdentityFile, CertificateFile, forwards, SendEnv; SetEnv's first line",
    config = [[
Host acc
  IdentityFile ~/.ssh/one
  IdentityFile "~/.ssh/with space"
  CertificateFile ~/.ssh/one-cert.pub
  LocalForward 8080 localhost:80
  LocalForward 127.0.0.1:8081 [::1]:81
  RemoteForward 9090 localhost:90
  SendEnv LANG LC_*
  SendEnv -LC_* EXTRA
  SetEnv A=1 B="two words"
Host *
  IdentityFile ~/.ssh/two
  CertificateFile ~/.ssh/two-cert.pub
  LocalForward 8082 db:5432
  SendEnv LATE
  SetEnv A=ignored C=3
]],
    destinations = { "acc", "rest" },
  },
  {
    name = "ProxyJump and ProxyCommand: none, lists, and whichever comes first",
    config = [[
Host pj-none
  ProxyJump none
Host pc-none
  ProxyCommand none
Host pj-list
  ProxyJump first@bastion1:2200,10.0.0.1,second
Host pc-first
  ProxyCommand ssh -W %h:%p bastion
Host pc-first pj-first
  ProxyJump later
Host pj-first
  ProxyCommand nc %h %p
Host *
  ProxyJump default-jump
]],
    destinations = { "pj-none", "pc-none", "pj-list", "pc-first", "pj-first", "other" },
  },
  {
    name = "Flags, choices, numbers, algorithm lists and spellings",
    config = [[
IgnoreUnknown Frobnicate*
host flags
  batchmode YES
  StrictHostKeyChecking accept-new
  RequestTTY force
  PubkeyAuthentication no
  PasswordAuthentication=no
  ChallengeResponseAuthentication no
  Compression yes
  AddressFamily inet
  TCPKeepAlive no
  IdentitiesOnly yes
  HashKnownHosts yes
  ConnectTimeout 1m5s
  ServerAliveInterval 10
  ServerAliveCountMax 5
  ConnectionAttempts 3
  NumberOfPasswordPrompts 1
  PreferredAuthentications publickey,password
  Ciphers aes128-ctr,aes256-gcm@openssh.com
  KexAlgorithms curve25519-sha256,diffie-hellman-group14-sha256
  MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512
  HostKeyAlgorithms ssh-ed25519,rsa-sha2-512
  PubkeyAcceptedAlgorithms ssh-ed25519,rsa-sha2-256
  BindAddress 127.0.0.1
  HostKeyAlias ALIASED
  LogLevel ERROR
  ForwardAgent yes
  ExitOnForwardFailure yes
  GlobalKnownHostsFile /etc/ssh/other_known_hosts
  IdentityAgent none
  Frobnicate yes
host strict-no
  StrictHostKeyChecking no
  RequestTTY no
  ForwardAgent ~/agent.sock
  ClearAllForwardings yes
  LocalForward 1 h:2
  UserKnownHostsFile none
  PubkeyAuthentication host-bound
host strict-yes
  StrictHostKeyChecking yes
  ConnectTimeout none
  AddressFamily inet6
]],
    destinations = { "flags", "strict-no", "strict-yes" },
  },
}

describe("essh -G against ssh -G", function()
  teardown(function() shell.run("rm -rf " .. shell.quote(dir)) end)

  for index, case in ipairs(CASES) do
    it(case.name, function()
      for name, text in pairs(case.files or {}) do write(name, text) end
      local file = write("case" .. index .. ".conf", case.config)
      for _, destination in ipairs(case.destinations) do
        local theirs, ours = compared(ssh_g(file, destination), essh_g(file, destination))
        assert.are.same(theirs, ours, destination)
        assert.is_true(#ours > 20, destination)
      end
    end)
  end

  it("a DSL host's options act as a Host block read before the file", function()
    local project = fs.join(dir, "project")
    fs.mkdir(project, { parents = true })
    fs.write(fs.join(project, ".esshconfig.lua"), [[
host "web1" {
  HostName = "10.0.0.5", User = "deploy", Port = 2222,
  IdentityFile = { "~/.ssh/a", "~/.ssh/b key" },
  LocalForward = "8080 localhost:80",
  SendEnv = { "LANG", "LC_*" },
  UserKnownHostsFile = { "~/kh one", "~/kh2" },
  ProxyCommand = "ssh -W %h:%p bastion",
  ServerAliveInterval = 9,
  BatchMode = true,
}
]])
    local file = write("dsl.conf",
      "Host web*\n  User other\n  Port 1\n  IdentityFile ~/.ssh/c\n  ProxyJump j\nHost *\n  Compression yes\n")
    local registry = assert(require("essh.config").load(fs.join(project, ".esshconfig.lua")))
    local block = registry:get("host", "web1"):ssh_config()
    local combined = write("dsl-combined.conf", block .. fs.read(file))
    for _, destination in ipairs { "web1", "admin@web1" } do
      local theirs, ours = compared(ssh_g(combined, destination), essh_g(file, destination, project))
      assert.are.same(theirs, ours, destination)
    end
  end)
end)

describe("a config OpenSSH refuses", function()
  local BAD = {
    { "Host a\n  Frobnicate yes\n", 2 },
    { "Host a\n\n  Port many\n", 3 },
    { "BatchMode maybe\n", 1 },
    { "User \"unterminated\n", 1 },
    { "User a b\n", 1 },
    { "Match all host x\n  Port 1\n", 1 },
    { "Ciphers nonsense-cipher\n", 1 },
    { "SetEnv NOEQUALS\n", 1 },
    { "LocalForward 8080\n", 1 },
  }
  it("essh refuses too, naming the file and line", function()
    local bad_dir = values.tempname()
    for i, case in ipairs(BAD) do
      local file = bad_dir .. "-" .. i .. ".conf"
      fs.write(file, case[1])
      local out, status = shell.run(("ssh -F %s -G a"):format(shell.quote(file)))
      assert.are_not.equal(0, status, "OpenSSH accepted " .. case[1] .. out)
      local ok, err = pcall(native_ssh.resolve, { host = "a", ssh_config = file })
      assert.is_false(ok, case[1])
      assert.truthy(tostring(err):find(file .. ":" .. case[2] .. ":", 1, true), tostring(err))
      os.remove(file)
    end
    os.remove(bad_dir)
  end)
end)
