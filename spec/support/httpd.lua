--- Starts spec/support/httpd.py (plain, or TLS with a CA and certificate made here with openssl).
--- `start({tls = true})` returns { url, port, ca_file (TLS), stop() }.
local M = {}

local shell = require "support.shell"
local sh = shell.must

local function pki(dir)
  sh(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=essh-test-ca"
    .. " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost"
    .. " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf"
    .. " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
    .. " -extfile ext.cnf"):format(dir))
end

function M.start(options)
  options = options or {}
  local dir = sh("mktemp -d /tmp/essh-httpd.XXXXXX"):gsub("%s+$", "")
  local port_file = dir .. "/port"
  local tls = ""
  if options.tls then
    pki(dir)
    tls = (" %s/server.pem %s/server.key"):format(dir, dir)
  end
  local watchdog = require("support.shell").watchdog(("exec python3 spec/support/httpd.py %s%s >%s/log 2>&1")
    :format(port_file, tls, dir))
  local port
  for _ = 1, 200 do
    local f = io.open(port_file)
    if f then
      port = tonumber(f:read("*a"))
      f:close()
      if port then break end
    end
    sh("sleep 0.02")
  end
  if not port then error("support/httpd: the server did not start: " .. (io.open(dir .. "/log"):read("*a") or "")) end
  local scheme = options.tls and "https" or "http"
  return {
    port = port,
    url = ("%s://127.0.0.1:%d"):format(scheme, port),
    ca_file = options.tls and (dir .. "/ca.pem") or nil,
    stop = function()
      watchdog:close()
      sh("rm -rf " .. dir)
    end,
  }
end

return M
