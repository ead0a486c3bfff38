-- Benchmarks essh's json, yaml and crypto against their peers, side by side, on the
-- interpreter running this script. Run through `make bench` (which builds first).
--   lua5.4 bench/codecs.lua BENCH_DATA_DIR OUT_DIR
local name = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", ""))
package.path = "lua/?.lua;lua/?/init.lua;bench/?.lua;" .. package.path
package.cpath = "build/" .. name .. "/?.so;" .. package.cpath

local data_dir, out_dir = arg[1] or "bench/data", arg[2] or "bench/out"
local native = require "essh_native"
local json, yaml, crypto = native.json, native.yaml, native.crypto
local cjson = require "cjson"
local dkjson = require "dkjson"
local lyaml = require "lyaml"

--- Best of `rounds` timings of `iterations` calls, in seconds per call (CPU time). Each
--- contender starts from a full collection, so none pays for garbage another one left.
local function measure(f, iterations, rounds)
  collectgarbage()
  local best = math.huge
  for _ = 1, rounds or 5 do
    local t = os.clock()
    for _ = 1, iterations do f() end
    best = math.min(best, (os.clock() - t) / iterations)
  end
  return best
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function row(what, mb, essh_t, peers)
  local parts = { ("%-7s %-34s essh %7.1f MB/s"):format(name, what, mb / essh_t) }
  for _, peer in ipairs(peers) do
    parts[#parts + 1] = ("%s %7.1f MB/s (essh %.2fx)"):format(peer[1], mb / peer[2], peer[2] / essh_t)
  end
  print(table.concat(parts, " | "))
end

os.execute("mkdir -p " .. out_dir)
for _, doc in ipairs { "twitter", "citm_catalog", "canada" } do
  local text = read(data_dir .. "/" .. doc .. ".json")
  local mb = #text / 1e6
  local n = doc == "canada" and 10 or 20
  local value, cvalue, dvalue = json.decode(text), cjson.decode(text), dkjson.decode(text)
  row("json.decode " .. doc .. ".json", mb, measure(function() json.decode(text) end, n), {
    { "cjson", measure(function() cjson.decode(text) end, n) },
    { "dkjson", measure(function() dkjson.decode(text) end, 2, 5) },
  })
  row("json.encode " .. doc .. ".json", mb, measure(function() json.encode(value) end, n), {
    { "cjson", measure(function() cjson.encode(cvalue) end, n) },
    { "dkjson", measure(function() dkjson.encode(dvalue) end, 2, 5) },
  })
  local ytext = assert(yaml.encode(value))
  local f = assert(io.open(out_dir .. "/" .. doc .. ".yaml", "wb"))
  f:write(ytext)
  f:close()
  local ymb = #ytext / 1e6
  row("yaml.decode " .. doc .. ".yaml", ymb, measure(function() yaml.decode(ytext) end, 3, 3), {
    { "lyaml", measure(function() lyaml.load(ytext) end, 1, 2) },
  })
end

-- One small message, as a service decoding many of them sees it: here the cost of a call
-- counts more than the speed of the parse.
local small = '{"id":12,"name":"x","tags":["a","b"],"ok":true}'
local small_value = json.decode(small)
local function per_call(what, f, peer)
  local ns = measure(f, 100000) * 1e9
  local peer_ns = measure(peer, 100000) * 1e9
  print(("%-7s %-34s essh %7.0f ns/call | cjson %7.0f ns/call (essh %.2fx)"):format(name, what, ns, peer_ns, peer_ns / ns))
end
per_call("json.decode of a 47-byte object", function() json.decode(small) end, function() cjson.decode(small) end)
per_call("json.encode of a 47-byte object", function() json.encode(small_value) end,
  function() cjson.encode(small_value) end)

local big = out_dir .. "/random-256MiB.bin"
if not io.open(big, "rb") then
  os.execute("head -c 268435456 /dev/urandom > " .. big)
end
local function wall(f) return require("timing").best(f, 3) end
local mib = 256 * 1048576 / 1e6
local ours = wall(function() assert(crypto.file_digest(big, "sha256")) end)
local openssl = wall(function() os.execute("openssl dgst -sha256 " .. big .. " > /dev/null") end)
row("sha256 of a 256 MiB file", mib, ours, { { "openssl", openssl } })

local p = io.popen(arg[-1] .. [[ -e 'package.cpath = "build/]] .. name
  .. [[/?.so;" .. package.cpath local t = os.clock() require "essh_native" print((os.clock() - t) * 1000)']])
local ms = tonumber(p:read("*l"))
p:close()
print(("%-7s %-34s %.2f ms"):format(name, 'require "essh_native"', ms))
