--- Starts spec/support/aws_emulator.py: moto, the AWS API emulator, with request signatures
--- checked, and a throttling proxy in front of it. `start(instances)` returns the emulator's
--- info (see aws_emulator.py) plus endpoint, throttle_endpoint, credentials, reset_auth(n)
--- (the next n requests go unauthenticated) and stop().
local M = {}

local shell = require "support.shell"
local json = require("essh_native").json

M.python = "build/venv/bin/python"

--- Whether the emulator's Python packages are installed (`make deps` installs them).
function M.available()
  return shell.sh(M.python .. " -c 'import moto, boto3, zeroconf' 2>/dev/null")
end

function M.start(instances)
  assert(M.available(), "support/aws: moto is not installed in build/venv: run `make deps`")
  local dir = shell.must("mktemp -d /tmp/essh-aws.XXXXXX"):gsub("%s+$", "")
  local info_file = dir .. "/info.json"
  local watchdog = shell.watchdog(("exec %s spec/support/aws_emulator.py %s %d >%s/log 2>&1")
    :format(M.python, info_file, instances or 25, dir))
  local info
  for _ = 1, 6000 do
    local f = io.open(info_file)
    if f then
      info = json.decode(f:read("*a"))
      f:close()
      break
    end
    shell.run("sleep 0.02")
  end
  if not info then
    local log = io.open(dir .. "/log")
    error("support/aws: the emulator did not start: " .. (log and log:read("*a") or ""))
  end
  info.dir = dir
  info.endpoint = ("http://127.0.0.1:%d"):format(info.port)
  info.throttle_endpoint = ("http://127.0.0.1:%d"):format(info.throttle_port)
  info.credentials = { AccessKeyId = info.access_key, SecretAccessKey = info.secret_key }
  function info.reset_auth(n)
    local http = require("essh_native").http
    assert(http.post(info.endpoint .. "/moto-api/reset-auth",
      { body = tostring(n), headers = { ["Content-Type"] = "text/plain" } }).ok)
  end
  function info.throttle(n)
    assert(require("essh_native").http.post(info.throttle_endpoint .. "/__throttle", { body = tostring(n) }).ok)
  end
  function info.stop()
    watchdog:close()
    shell.run("rm -rf " .. dir)
  end
  return info
end

return M
