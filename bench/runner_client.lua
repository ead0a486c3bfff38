-- The essh DSL side of the runner benchmark (bench/runner.lua runs it; prints seconds, the
-- definitions included):   PORT USER KEY KNOWN_HOSTS PARALLEL HOST...
local essh = require "essh"
local host, task = essh.host, essh.task

local t0 = essh.runtime.monotonic()
local port, user, key, known_hosts, parallel = arg[1], arg[2], arg[3], arg[4], tonumber(arg[5])
for i = 6, #arg do
  host(arg[i]) { HostName = arg[i], Port = port, User = user, IdentityFile = key, UserKnownHostsFile = known_hosts,
    tags = { "fleet" } }
end
task "three" { backend = "remote", targets = "fleet", parallel = parallel, script = { "uname -r", "test -d /tmp", "echo done" } }
local report = essh.run("three")
assert(report.ok and #report.failed == 0, "some hosts failed")
print(("%.4f"):format(essh.runtime.monotonic() - t0))
