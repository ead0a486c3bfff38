-- The README's demo: deploy a release to three hosts in parallel over SSH. The hosts are
-- aliases of one throwaway OpenSSH server that this script starts on loopback (with its own
-- host and user keys) and stops at the end.   Run: make demo
package.path = "spec/?.lua;" .. package.path -- spec/support/sshd.lua starts the server
local essh = require "essh"
local sshd = require "support.sshd"
local ssh, runtime, yaml, crypto = essh.ssh, essh.runtime, essh.yaml, essh.crypto

local server = sshd.start()
local root = server.dir .. "/srv" -- where the "hosts" keep their releases
assert(os.execute("mkdir -p " .. root .. " && chmod 1777 " .. root))

-- The fleet, as an operator might keep it in YAML.
local fleet = assert(yaml.decode(([[
defaults: &defaults {HostName: 127.0.0.1, Port: %d, User: %s}
hosts:
  web1: {<<: *defaults, tags: [web]}
  web2: {<<: *defaults, tags: [web]}
  db1:  {<<: *defaults, tags: [db]}
]]):format(server.port, server.user)))

-- The release: one artifact, built here, checked by digest on every host.
local version = "1.2." .. os.time() % 1000
local artifact = os.tmpname()
local f = assert(io.open(artifact, "w"))
f:write(("#!/bin/sh\necho app %s\n"):format(version))
f:close()
local digest = crypto.file_digest(artifact, "sha256")

local function say(name, text)
  io.write(("[%s] %s\n"):format(name, text))
end

local function deploy(name, host)
  local session = assert(ssh.connect({
    host = host.HostName, port = host.Port, user = host.User,
    identity_file = server.keys .. "/id_ed25519", known_hosts_file = server.known_hosts,
    ssh_config = false, agent = false,
  }))
  local dir = ("%s/%s/releases/%s"):format(root, name, version)
  local r = session:exec(("mkdir -p %s && echo created %s"):format(dir, dir))
  if not r.ok then error(r.stderr) end
  say(name, r.stdout:gsub("\n$", ""))
  session:upload(artifact, dir .. "/app", { mode = tonumber("755", 8) })
  r = session:exec(("cd %s && sha256sum app && ln -sfn %s ../../current && ../../current/app"):format(dir, dir), {
    on_stdout = function(line) say(name, line) end, lines = true,
  })
  if not r.ok then error(("%s: exit %s: %s"):format(name, tostring(r.exitStatus), r.stderr)) end
  local remote = assert(session:exec(("sha256sum %s/app"):format(dir))).stdout:match("^%x+")
  session:close()
  return remote == digest
end

local names = {}
for name in pairs(fleet.hosts) do names[#names + 1] = name end
table.sort(names)

local started = runtime.monotonic()
local jobs = {}
for i, name in ipairs(names) do jobs[i] = function() return deploy(name, fleet.hosts[name]) end end
local results = runtime.parallel(jobs)
local elapsed = runtime.monotonic() - started

local failed = 0
for i, name in ipairs(names) do
  local verified, err = results[i][1], results[i][2]
  if verified then
    say(name, "deployed " .. version .. ", digest verified")
  else
    failed = failed + 1
    say(name, "FAILED: " .. tostring(err or "digest mismatch"))
  end
end
os.remove(artifact)
server.stop()
local interpreter = rawget(_G, "jit") and jit.version or _VERSION
print(("essh %s on %s: %d/%d hosts deployed in %.2fs"):format(essh._VERSION, interpreter, #names - failed, #names,
  elapsed))
os.exit(failed == 0 and 0 or 1)
