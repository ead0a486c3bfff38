-- The README's demo: a release deployed to three hosts in parallel, written in essh's DSL. The
-- hosts are aliases of one throwaway OpenSSH server that this script starts on loopback (with
-- its own host and user keys) and stops at the end.   Run: make demo
package.path = "spec/?.lua;" .. package.path -- spec/support/sshd.lua starts the server
local essh = require "essh"
local sshd = require "support.sshd"
local host, task, fs, crypto = essh.host, essh.task, essh.fs, essh.crypto

local server = sshd.start()
local root = server.dir .. "/srv" -- where the "hosts" keep their releases
assert(os.execute("mkdir -p " .. root .. " && chmod 1777 " .. root))

-- The fleet.
for _, spec in ipairs({ { "web1", "web" }, { "web2", "web" }, { "db1", "db" } }) do
  host(spec[1]) {
    HostName = "127.0.0.1", Port = server.port, User = server.user,
    IdentityFile = server.keys .. "/id_ed25519", UserKnownHostsFile = server.known_hosts,
    tags = { spec[2] }, props = { root = root .. "/" .. spec[1] },
  }
end

-- The release: one artifact, built here, checked by digest on every host.
local version = "1.2." .. os.time() % 1000
local artifact = assert(fs.tempfile("essh-demo"))
fs.write(artifact, ("#!/bin/sh\necho app %s on $(hostname)\n"):format(version))
local digest = crypto.file_digest(artifact, "sha256")

task "deploy" {
  description = "upload the release, switch the current link, check the digest",
  targets = { "web", "db" },
  parallel = true,
  script = function(t)
    local dir = ("%s/releases/%s"):format(t.host.props.root, version)
    t:run("mkdir -p " .. essh.shell.quote(dir))
    t:upload(artifact, dir .. "/app", { mode = tonumber("755", 8) })
    t:run(("ln -sfn %s %s/current"):format(essh.shell.quote(dir), essh.shell.quote(t.host.props.root)))
    local remote = t:run("sha256sum " .. essh.shell.quote(dir .. "/app")).stdout:match("^%x+")
    if remote ~= digest then error("digest mismatch on " .. t.host.name) end
  end,
}

task "verify" {
  description = "run the new release everywhere (output prefixed per host)",
  backend = "remote",           -- a shell script runs here (once per target) unless it says remote
  targets = { "web", "db" },
  parallel = true,
  script = [[
    echo "release $(basename "$(readlink "$ESSH_HOST_PROPS_ROOT/current")")"
    "$ESSH_HOST_PROPS_ROOT/current/app"
  ]],
}

local deployed = essh.run("deploy")
local verified = deployed.ok and essh.run("verify")
fs.remove(artifact)
server.stop()

local ok = deployed.ok and verified and verified.ok
local interpreter = rawget(_G, "jit") and jit.version or _VERSION
print(("essh %s on %s: %s %s to %d hosts in %.2fs"):format(essh._VERSION, interpreter,
  ok and "deployed" or "FAILED to deploy", version, 3, deployed.duration + (verified and verified.duration or 0)))
os.exit(ok and 0 or 1)
