-- The release: `make dist` and `make rocks` build a source rock and binary rocks, which install
-- from a local rocks server into fresh trees, with this checkout off every path, and then run
-- a task against the throwaway sshd. Heavy (cargo builds the source rock).
local sshd = require "support.sshd"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local crypto = require "essh.crypto"
local native = require "essh_native"

-- CI builds the rock on Lua 5.4 only (each build compiles essh_native again); ESSH_HEAVY_SPECS=1
-- builds it on 5.1 and LuaJIT too.
local RELEASED_ON = os.getenv("ESSH_HEAVY_SPECS") == "1" and { ["lua5.1"] = true, ["lua5.4"] = true, luajit = true }
  or { ["lua5.4"] = true }
local describe_release = RELEASED_ON[lua.interpreter] and describe or pending

describe_release("the release of essh " .. native.version .. " on " .. lua.interpreter, function()
  local server, work, version, rockspec_path, project

  local function q(s) return require("essh.shell").quote(s) end

  -- Runs `command` in `project` with nothing of the checkout on the module paths.
  local function outside(command, path)
    return shell.run(("cd %s && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 %s HOME=%s ESSH_TRUST_ALL=1 %s")
      :format(q(project), path and ("PATH=" .. q(path)) or "", q(work), command))
  end

  setup(function()
    server = sshd.start()
    version = native.version
    work = assert(fs.tempdir("essh-release"))
    project = fs.join(work, "project")
    assert(fs.mkdir(project))
    assert(fs.write(fs.join(project, "fleet.lua"), ([[
host "h1" { HostName = "127.0.0.1", Port = %d, User = %q, IdentityFile = %q, UserKnownHostsFile = %q }
task "hello" { backend = "remote", targets = "h1", script = "echo hello from $ESSH_HOST_NAME on $(uname -s)" }
]]):format(server.port, server.user, server.keys .. "/id_ed25519", server.known_hosts)))
    shell.must(("tools/release rocks %s %s"):format(q(work), lua.interpreter))
    rockspec_path = ("rockspec/essh-%s-1.rockspec"):format(version)
  end)

  teardown(function()
    if server then server.stop() end
    if work then fs.remove(work, { recursive = true }) end
  end)

  it("makes a rockspec whose source is the release tarball, with its md5, and the same tarball each time", function()
    local out = fs.join(work, "again")
    local tarball = fs.join(out, ("essh-%s.tar.gz"):format(version))
    shell.must("tools/release dist " .. q(out))
    local text = assert(fs.read(rockspec_path))
    local function has(piece) assert.is_truthy(text:find(piece, 1, true), piece .. " in " .. text) end
    has(('version = "%s-1"'):format(version))
    has(('url = "https://github.com/essh-lua/essh/releases/download/v%s/essh-%s.tar.gz"'):format(version, version))
    has(('tag = "v%s"'):format(version))
    assert.equal(shell.must("md5sum " .. q(tarball)):match("^%x+"), text:match('md5 = "(%x+)"'))
    local first = assert(crypto.file_digest(tarball, "sha256"))
    shell.must("tools/release dist " .. q(out))
    assert.equal(first, assert(crypto.file_digest(tarball, "sha256")))
    local listing = shell.must("tar -tzf " .. q(tarball))
    assert.matches(("essh%%-%s/Cargo.lock\n"):format(version), listing)
    assert.matches(("essh%%-%s/lua/essh/connection/ssh.lua\n"):format(version), listing)
  end)

  it("installs from the source rock alone, then runs essh --version and a task against sshd", function()
    local tree = fs.join(work, "trees", lua.interpreter)
    local out, code = outside(q(fs.join(tree, "bin", "essh")) .. " --version")
    assert.equal(0, code, out)
    assert.matches("^essh " .. version:gsub("%.", "%%.") .. " %(", out)
    out, code = outside(q(fs.join(tree, "bin", "essh")) .. " --config fleet.lua hello")
    assert.equal(0, code, out)
    assert.matches("hello from h1 on Linux", out)
  end)

  it("installs the binary rock without cargo on the PATH, and it runs the same", function()
    local server_dir = fs.join(work, "rocks", lua.interpreter)
    local rocks = assert(fs.list(server_dir))
    local binary
    for _, name in ipairs(rocks) do
      if name:match("%.linux%-[%w_]+%.rock$") then binary = name end
    end
    assert.is_string(binary, "no binary rock in " .. server_dir)
    local tree = fs.join(work, "binary-tree")
    local no_cargo = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert.is_nil(shell.sh(("PATH=%s command -v cargo"):format(no_cargo)))
    local out, code = outside(("%s/tools/luarocks-for %s --tree %s install essh --only-server=%s"):format(
      q(lua.checkout), lua.interpreter, q(tree), q(server_dir)), no_cargo)
    assert.equal(0, code, out)
    assert.not_matches("Compiling", out)
    out, code = outside(q(fs.join(tree, "bin", "essh")) .. " --version", no_cargo)
    assert.equal(0, code, out)
    assert.matches("^essh " .. version:gsub("%.", "%%."), out)
    out, code = outside(q(fs.join(tree, "bin", "essh")) .. " --config fleet.lua hello", no_cargo)
    assert.equal(0, code, out)
    assert.matches("hello from h1 on Linux", out)
  end)
end)
