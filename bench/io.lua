-- I/O module benchmarks, side by side in one run:   make bench-io
--   1. 1000 sequential small GETs to a local server: essh http vs luasocket's socket.http
--   2. 100 concurrent GETs to a server that delays each answer by 100 ms, under the scheduler
--   3. a 10 KB template with a 1000-item loop: renders per second
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
local name = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.cpath = "build/" .. name .. "/?.so;" .. package.cpath
local essh = require "essh"
local httpd = require "support.httpd"
local http, runtime, template = essh.http, essh.runtime, essh.template
local interpreter = rawget(_G, "jit") and "luajit" or _VERSION

local server = httpd.start()
local ok, failure = pcall(function()
  local url = server.url .. "/hello"
  for _ = 1, 50 do assert(http.get(url)) end -- warm the pool and the server
  local t0 = runtime.monotonic()
  for _ = 1, 1000 do assert(http.get(url).status == 200) end
  local essh_seconds = runtime.monotonic() - t0

  local have_socket, socket_http = pcall(require, "socket.http")
  local socket_seconds
  if have_socket then
    for _ = 1, 50 do socket_http.request(url) end
    t0 = runtime.monotonic()
    for _ = 1, 1000 do
      local _, code = socket_http.request(url)
      assert(code == 200)
    end
    socket_seconds = runtime.monotonic() - t0
  end

  local fns = {}
  for i = 1, 100 do fns[i] = function() return http.get(server.url .. "/delay/100").status end end
  t0 = runtime.monotonic()
  local results = runtime.parallel(fns)
  local concurrent = runtime.monotonic() - t0
  for i = 1, 100 do assert(results[i][1] == 200) end

  local items = {}
  for i = 1, 1000 do items[i] = { name = "host" .. i, ip = ("10.0.%d.%d"):format(math.floor(i / 256) % 256, i % 256) } end
  local padding = ("# a configuration line that pads the template to about ten kilobytes\n"):rep(143)
  local text = padding .. "{% for it in items %}{{ it.name }} {{ it.ip | shell }}\n{% end %}"
  local render = template.compile(text)
  local out = render({ items = items })
  local n, c0 = 0, os.clock()
  while os.clock() - c0 < 2 do
    render({ items = items })
    n = n + 1
  end
  local per_second = n / (os.clock() - c0)

  print(("| %s | 1000 sequential GETs | %.3f s (%.0f req/s) | luasocket %s | %s | >= 1.0x |"):format(interpreter,
    essh_seconds, 1000 / essh_seconds, socket_seconds and ("%.3f s"):format(socket_seconds) or "n/a",
    socket_seconds and ("%.2fx throughput"):format(socket_seconds / essh_seconds) or "n/a"))
  print(("| %s | 100 concurrent GETs, 100 ms each | %.3f s | sequential would take 10 s | | < 0.5 s |"):format(
    interpreter, concurrent))
  print(("| %s | render a %d-byte template, 1000-item loop (output %d bytes) | %.0f renders/s | | | >= 1000/s |")
    :format(interpreter, #text, #out, per_second))
end)
server.stop()
if not ok then error(failure, 0) end
