-- The mdns module against python-zeroconf, both inside a network namespace this spec creates
-- (loopback with multicast on) and removes: the essh side runs in a child interpreter there,
-- with zeroconf announcing and browsing beside it. Needs root for `ip netns`; skips otherwise.
local emulator = require "support.aws"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"

-- CI runs the servers' specs on Lua 5.4 (5.1 and LuaJIT pass them too: ESSH_HEAVY_SPECS=1).
local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"

describe("mdns", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the mDNS spec runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local namespace, dir, usable = nil, nil, false

  setup(function()
    dir = assert(fs.tempdir())
    namespace = ("essh-mdns-%d"):format(math.random(100000, 999999))
    usable = shell.sh(("ip netns add %s 2>/dev/null && ip netns exec %s ip link set lo up && "
      .. "ip netns exec %s ip link set lo multicast on"):format(namespace, namespace, namespace))
  end)

  teardown(function()
    if usable then shell.run("ip netns delete " .. namespace) end
    if dir then shell.run("rm -rf " .. dir) end
  end)

  -- Helpers of the child: peer(name, port, txt...) starts a zeroconf announcement and returns a
  -- function that withdraws it.
  local PRELUDE = ([[
local python, dir = %q, %q
local peers = 0
function peer(name, port, ...)
  peers = peers + 1
  local ready = dir .. "/ready" .. peers
  local h = assert(io.popen(("exec %%s spec/support/zeroconf_peer.py announce %%s _ssh._tcp %%d 127.0.0.1 %%s > %%s 2>&1")
    :format(python, name, port, table.concat({ ... }, " "), ready), "w"))
  for _ = 1, 500 do
    local f = io.open(ready)
    local text = f and f:read("*a")
    if f then f:close() end
    if text and text:find("ready") then return function() h:close() end end
    os.execute("sleep 0.02")
  end
  error("zeroconf did not announce: " .. tostring(io.open(ready) and io.open(ready):read("*a")))
end
]]):format(emulator.python, "DIR")

  -- Runs `code` (after the prelude) in the namespace; its output and status.
  local function in_namespace(code, env)
    if not usable then return pending("needs root: creating a network namespace failed") end
    local command, path = lua.script(PRELUDE:gsub('"DIR"', ("%q"):format(dir)) .. code)
    local out, status = shell.run(("ip netns exec %s env %s %s 2>&1"):format(namespace, env or "", command))
    os.remove(path)
    return out, status
  end

  it("discovers what zeroconf announces, with addresses, port and TXT", function()
    local out, status = in_namespace([[
local mdns = require("essh_native").mdns
local json = require("essh_native").json
local stop_web, stop_db = peer("web1", 2222, "tags=web,prod", "env=prod"), peer("db1", 2223)
local found = assert(mdns.discover("_ssh._tcp", { timeout = 1.5, interface = "lo" }))
print(json.encode(found))
stop_web()
stop_db()
]])
    assert.equal(0, status, out)
    local found = json.decode(out:match("%[.*%]"))
    assert.equal(2, #found)
    assert.equal("db1", found[1].name)
    local web = found[2]
    assert.equal("web1", web.name)
    assert.equal("web1._ssh._tcp.local.", web.fullname)
    assert.equal("web1.local.", web.hostname)
    assert.equal(2222, web.port)
    assert.same({ "127.0.0.1" }, web.addresses)
    assert.same({ tags = "web,prod", env = "prod" }, web.txt)
  end)

  it("browses appearances and departures while other tasks run", function()
    local out, status = in_namespace([[
local native = require("essh_native")
local mdns, runtime = native.mdns, native.runtime
local stop
local events, ticks = {}, 0
runtime.parallel {
  function()
    assert(mdns.browse("_ssh._tcp", function(e)
      events[#events + 1] = e.event .. " " .. e.name
      if e.event == "appear" then stop() end
      return e.event ~= "leave"
    end, { timeout = 10 }))
  end,
  function()
    for _ = 1, 5 do
      runtime.sleep(0.05)
      ticks = ticks + 1
    end
    stop = peer("web2", 2224)
  end,
}
print(table.concat(events, ","), ticks)
]])
    assert.equal(0, status, out)
    assert.matches("appear web2,leave web2\t5", out)
  end)

  it("announces what zeroconf's browser sees, until closed", function()
    local out, status = in_namespace([[
local mdns = require("essh_native").mdns
local a = assert(mdns.announce { name = "essh agent", type = "_ssh._tcp", port = 2300, txt = { tags = "agent", v = 2 },
  addresses = { "127.0.0.1" } })
print(a.fullname)
local seen = io.popen(python .. " spec/support/zeroconf_peer.py browse _ssh._tcp 1.5"):read("*a")
print(seen)
a:close()
local after = io.popen(python .. " spec/support/zeroconf_peer.py browse _ssh._tcp 1"):read("*a")
print("after:" .. after .. ":")
]])
    assert.equal(0, status, out)
    assert.matches("^essh agent%._ssh%._tcp%.local%.\n", out)
    local seen = json.decode(out:match("\n(%b{})"))
    assert.equal("essh agent._ssh._tcp.local.", seen.name)
    assert.equal(2300, seen.port)
    assert.same({ "127.0.0.1" }, seen.addresses)
    assert.same({ tags = "agent", v = "2" }, seen.txt)
    assert.matches("after::", out)
  end)

  it("defines hosts from what answers, for essh --hosts", function()
    assert(fs.write(fs.join(dir, ".esshconfig.lua"), [[
essh.inventory.mdns { service = "_ssh._tcp", timeout = 1.5, tags_from_txt = "tags", ssh = { User = "deploy" } }
]]))
    local out, status = in_namespace(([[
local stop = peer("web3", 2225, "tags=web,blue")
local out = io.popen("cd %s && HOME=%s NO_COLOR=1 ESSH_TRUST_ALL=1 LUA_PATH='%s;;' LUA_CPATH='%s;;' "
  .. "%s %s/bin/essh --hosts --json"):read("*a")
stop()
print(out)
]]):format(dir, dir, lua.path, lua.cpath, lua.interpreter, lua.checkout))
    assert.equal(0, status, out)
    local hosts = json.decode(out:match("%[.*%]"))
    assert.equal(1, #hosts)
    assert.equal("web3", hosts[1].name)
    assert.equal("127.0.0.1", hosts[1].HostName)
    assert.equal(2225, hosts[1].Port)
    assert.equal("deploy", hosts[1].User)
    assert.same({ "web", "blue" }, hosts[1].tags)
  end)
end)
