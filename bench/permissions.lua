-- The cost of the permission check, on the per-call rows of the other benchmarks:   make bench-permissions
-- Run by bench/permissions.sh with two builds of essh_native.so alternately (SO=dir): the build
-- before the check existed and this one. Each row is the best of ROUNDS rounds (default 10).
--   small json decode and base64 encode (deterministic: no check), fs.exists (a checked
--   function, no policy in force), 1000 sequential GETs to a local server, a scheduler step;
--   then this build only: fs.exists and the GETs inside a task's grants (net, read).
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;" .. package.path
local name = rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.cpath = (os.getenv("SO") or ("build/" .. name)) .. "/?.so;" .. package.cpath
local native = require "essh_native"
local httpd = require "support.httpd"
local json, base64, fs, http, runtime = native.json, native.base64, native.fs, native.http, native.runtime

local ROUNDS = tonumber(os.getenv("ROUNDS") or "") or 10

-- The best time of ROUNDS rounds of fn(), in seconds.
local timing = require "timing"
local function best(fn) return timing.best(fn, ROUNDS) end

local function per_call(n, fn)
  return best(function() for _ = 1, n do fn() end end) / n * 1e9
end

local small = '{"id":12,"name":"x","tags":["a","b"],"ok":true}'
local rows = {}
local function row(label, value, unit)
  local shown = unit == "s" and ("%.4f"):format(value) or ("%.0f"):format(value)
  rows[#rows + 1] = ("%s\t%s\t%s\t%s"):format(name, label, shown, unit)
end

row("json.decode 47 bytes", per_call(200000, function() return json.decode(small) end), "ns")
row("base64.encode(\"x\")", per_call(200000, function() return base64.encode("x") end), "ns")
row("fs.exists(\".\")", per_call(100000, function() return fs.exists(".") end), "ns")

local function steps()
  return best(function()
    local tasks = {}
    for i = 1, 200 do tasks[i] = runtime.spawn(function() for _ = 1, 100 do coroutine.yield() end end) end
    for i = 1, 200 do tasks[i]:wait() end
  end) / 20000 * 1e9
end
row("scheduler step (20000 yields)", steps(), "ns")

local server = httpd.start()
local ok, failure = pcall(function()
  local url = server.url .. "/hello"
  for _ = 1, 50 do assert(http.get(url)) end
  local function gets() for _ = 1, 1000 do assert(http.get(url).status == 200) end end
  row("1000 sequential GETs", best(gets), "s")
  if native.permissions then
    local permissions = require "essh.permissions"
    local policy = permissions.policy({ net = { "127.0.0.1" }, read = { "." } }, "the benchmark")
    permissions.within(policy, { task = "bench" }, function()
      row("1000 sequential GETs inside grants", best(gets), "s")
      row("fs.exists(\".\") inside grants", per_call(20000, function() return fs.exists(".") end), "ns")
      row("scheduler step inside a scope", steps(), "ns")
    end)
  end
end)
server.stop()
if not ok then error(failure, 0) end
print(table.concat(rows, "\n"))
