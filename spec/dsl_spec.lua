local dsl_of = require "essh.config"
local fs = require "essh.fs"

local function config(text)
  local dir = assert(fs.tempdir())
  local path = fs.join(dir, "esshconfig.lua")
  fs.write(path, text)
  local registry, err = dsl_of.load(path)
  return registry, err, path, dir
end

describe("the DSL", function()
  describe("host", function()
    it("takes every call form and reads ssh options without regard to case", function()
      local registry = assert(config([[
host "web1" { HostName = "10.0.0.5", User = "deploy", tags = { "web" } }
host("web2", { Hostname = "10.0.0.6", port = "2222", Tags = { "web", "production" } })
local h = host "db1"
h.HostName = "10.0.0.7"
h.tags = { "db" }
]]))
      local web1, web2, db1 = registry:get("host", "web1"), registry:get("host", "web2"), registry:get("host", "db1")
      assert.equal("10.0.0.5", web1.HostName)
      assert.equal("10.0.0.5", web1.hostname)
      assert.equal("deploy", web1.User)
      assert.equal("10.0.0.6", web2.HostName)
      assert.equal("2222", web2.Port)
      assert.same({ "web", "production" }, web2.tags)
      assert.equal("10.0.0.7", db1.HostName)
      assert.same({ "db" }, db1.Tags)
      local options = require("essh.connection.ssh").options(web2)
      options.ssh_config = false
      assert.truthy(require("essh_native").ssh.resolve(options):find("\nport 2222\n", 1, true))
    end)

    it("runs init when the host is defined, as the seed does", function()
      local registry = assert(config([[
host "web-server" {
    Hostname = "example.com",
    User = "admin",
    init = function(host)
        if os.getenv("ENVIRONMENT") == "production" then
            host.Port = "22"
            host.Tags = {"production", "web"}
        else
            host.Port = "2222"
            host.Tags = {"staging", "web"}
        end
    end
}
]]))
      local h = registry:get("host", "web-server")
      assert.equal("2222", h.Port)
      assert.same({ "staging", "web" }, h.tags)
    end)

    it("names the file and line of an unknown ssh option or field", function()
      local _, err, path = config('host "a" { HostName = "x" }\nhost "b" { HostNmae = "x" }\n')
      assert.truthy(err:find(path .. ":2: host b: unknown ssh option 'HostNmae'", 1, true), err)
      -- Not a keyword of ssh_config(5): kept for OpenSSH tools when IgnoreUnknown lets it through, as ssh does.
      local registry = assert(config('host "m" { UseKeychain = "yes", IgnoreUnknown = "UseK*,Other" }\n'))
      local text = registry:get("host", "m"):ssh_config()
      assert.truthy(text:find("IgnoreUnknown UseK%*,Other\n    UseKeychain yes"), text)
      _, err, path = config('host "a" { tagz = {} }\n')
      assert.equal(path .. ":1: host a: unknown field 'tagz'", err)
    end)

    it("lets a second definition replace the first, as essh v3 did (override files rely on it)", function()
      local registry = assert(config('host "a" { User = "x", Port = 2 }\n\nhost "a" { User = "y" }\n'))
      assert.same({ "y", nil }, { registry:get("host", "a").User, registry:get("host", "a").Port })
      registry = assert(config('host "a" { User = "x" }\nlocal h = host "a"\nh.HostName = "z"\n'))
      assert.same({ nil, "z" }, { registry:get("host", "a").User, registry:get("host", "a").HostName })
    end)

    it("refuses a host named like a tag", function()
      local _, err = config('host "a" { tags = { "web" } }\nhost "web" {}\n')
      assert.matches("host web has the name of a tag of host a", err)
    end)
  end)

  describe("group", function()
    it("gives its members defaults they do not set themselves, nested", function()
      local registry = assert(config([[
group {
  User = "deploy",
  Port = 2200,
  host "a" { HostName = "10.0.0.1" },
  group {
    Port = 2300,
    host "b" { HostName = "10.0.0.2", User = "root" },
  },
  hosts = { host "c" { HostName = "10.0.0.3" } },
}
]]))
      local a, b, c = registry:get("host", "a"), registry:get("host", "b"), registry:get("host", "c")
      assert.same({ "deploy", 2200 }, { a.User, a.Port })
      assert.same({ "root", 2300 }, { b.User, b.Port })
      assert.same({ "deploy", 2200 }, { c.User, c.Port })
    end)
  end)

  describe("task", function()
    it("records its fields, with the script shorthand and the default backend", function()
      local registry = assert(config([[
task "deploy" { targets = "web", parallel = true, script = "git pull" }
task "hello" "echo hi"
task "steps" { "echo 1", "echo 2" }
]]))
      local deploy = registry:get("task", "deploy")
      assert.equal("local", deploy:where_it_runs())   -- essh v3's default: here, once per target host
      assert.is_true(deploy.parallel)
      assert.equal("echo hi", registry:get("task", "hello").script)
      assert.equal("local", registry:get("task", "hello"):where_it_runs())
      assert.same({ "echo 1", "echo 2" }, registry:get("task", "steps").script)
    end)

    it("names the file and line of an unknown field", function()
      local _, err, path = config('task "t" { scirpt = "x" }\n')
      assert.equal(path .. ":1: task t: unknown field 'scirpt'", err)
    end)
  end)

  describe("host queries", function()
    local registry
    setup(function()
      registry = assert(config([[
host "web1" { tags = { "web", "production" } }
host "web2" { tags = { "web" } }
host "db1" { tags = { "db", "production" } }
host "bastion" { hidden = true, tags = { "web" } }
]]))
    end)

    it("select by names and tags, filter by all filters, and hide hidden hosts", function()
      local query = require "essh.query"
      assert.same({ "web1", "web2", "bastion" }, query.new(registry, "web"):names())
      assert.same({ "web1", "web2", "db1", "bastion" }, query.new(registry, { "web", "db" }):names())
      assert.same({ "web1", "db1" }, query.new(registry, { "web", "db" }):filter("production"):names())
      assert.same({ "web1", "web2" }, query.new(registry, "web"):visible():names())
      assert.equal("web1", query.new(registry, "web"):first().name)
      local seen = {}
      query.new(registry, "db1"):each(function(h) seen[#seen + 1] = h.name end)
      assert.same({ "db1" }, seen)
    end)
  end)

  describe("config files", function()
    it("resolve require of essh's modules by their short names, as the seed does", function()
      local registry, err = config([[
local json = require "json"
local yaml = require "yaml"
local inspect = require "inspect"
host "h" { props = { doc = json.encode(yaml.decode("a: 1")), dump = inspect({ 1 }) } }
]])
      assert.is_nil(err)
      assert.equal('{"a":1}', registry:get("host", "h").props.doc)
    end)

    it("report a syntax error with its file and line", function()
      local _, err, path = config('host "a" {\n  User = \n}\n')
      assert.matches(path .. ":3:", err, 1, true)
    end)
  end)
end)

describe("essh", function()
  it("offers the DSL on its default registry and sets no globals", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    local essh = require "essh"
    local h = essh.host "essh-spec-default" { HostName = "127.0.0.1", tags = { "essh-spec" } }
    assert.equal(h, essh.registry:get("host", "essh-spec-default"))
    assert.same({ "essh-spec-default" }, essh.select("essh-spec"):names())
    for k in pairs(_G) do assert.is_true(before[k] ~= nil, "new global " .. tostring(k)) end
  end)

  it("gives a plain script the config globals with require \"essh.dsl\"", function()
    local lua = require "support.lua"
    local out = lua.run([[
      require "essh.dsl"
      host "scripted" { HostName = "127.0.0.1" }
      task "t" "echo hi"
      print(essh.registry:get("host", "scripted").HostName, essh.registry:get("task", "t").script)
    ]])
    assert.equal("127.0.0.1\techo hi\n", out)
  end)
end)
