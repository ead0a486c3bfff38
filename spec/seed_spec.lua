-- The seed's usage and debugging examples (spec/data/seed_examples.lua, copied verbatim) run as
-- written: as a config file that essh loads, and as a plain script after `require "essh.dsl"`.
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"

local EXAMPLES = fs.abspath("spec/data/seed_examples.lua")

-- A directory holding config.yml and a git clone whose origin has a commit the clone lacks.
local function workdir()
  local dir = assert(fs.tempdir())
  shell.must(([[
    cd '%s' && git init -q --bare origin.git && git clone -q origin.git app 2>/dev/null && cd app &&
    git -c user.name=t -c user.email=t@t commit -q --allow-empty -m first && git push -q origin HEAD &&
    git clone -q ../origin.git ../other && cd ../other && echo v2 > version &&
    git add version && git -c user.name=t -c user.email=t@t commit -q -m second && git push -q origin HEAD
  ]]):format(dir))
  fs.write(fs.join(dir, "app", "config.yml"), "name: app\nports: [80, 443]\nenabled: true\n")
  return dir, fs.join(dir, "app")
end

local function check(app, out, status)
  assert.equal(0, status, out)
  -- Task "config": config.yml converted to sorted, indented JSON.
  local written = assert(fs.read(fs.join(app, "config.json")))
  assert.same({ name = "app", ports = { 80, 443 }, enabled = true }, json.decode(written))
  assert.equal(assert(json.encode(json.decode(written), { indent = true, sort_keys = true })), written)
  -- Task "deploy": prepare found git, then the script pulled the new commit.
  assert.equal("v2\n", fs.read(fs.join(app, "version")))
  -- The debugging examples: log lines on stderr and inspect's output.
  assert.matches("INFO%s+Starting task%.%.%.", out)
  assert.matches("ERROR%s+Failed to connect: nil", out)
  assert.matches("\nnil\n", "\n" .. out)
  assert.not_matches("Error:", out)
end

describe("the seed's examples", function()
  it("run as a config file essh loads", function()
    local dir, app = workdir()
    local out, status = lua.run(([[
      local essh = require "essh"
      assert(essh.load(%q))
      local web = essh.registry:get("host", "web-server")
      assert(web.Hostname == "example.com" and web.Port == "2222" and web.Tags[1] == "staging")
      local config, deploy = essh.main({ [0] = "essh", "config" }), essh.main({ [0] = "essh", "deploy" })
      os.exit(config + deploy)
    ]]):format(EXAMPLES), app)
    check(app, out, status)
    fs.remove(dir, { recursive = true })
  end)

  it("run as a plain script after require \"essh.dsl\"", function()
    local dir, app = workdir()
    local out, status = lua.run(([[
      require "essh.dsl"
      dofile(%q)
      assert(essh.registry:get("task", "deploy").prepare)
      os.exit(essh.main({ [0] = "seed.lua", "config" }) + essh.main({ [0] = "seed.lua", "deploy" }))
    ]]):format(EXAMPLES), app)
    check(app, out, status)
    fs.remove(dir, { recursive = true })
  end)
end)
