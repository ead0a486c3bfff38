local gen = dofile("tools/generate.lua")
local native = require "essh_native"
local values = require "support.values"

describe("what follows from essh_native.modules()", function()
  it("types/ matches the module definitions (run `make generate` after changing them)", function()
    for _, def in ipairs(native.modules()) do
      local path = "types/" .. def.name .. ".lua"
      assert.is_true(values.exists(path), path .. " is missing")
      assert.equal(gen.render(def), values.read(path), path .. " is stale")
    end
    assert.equal(gen.error_class(native.error_kinds), values.read("types/error.lua"), "types/error.lua is stale")
    assert.equal(gen.essh_fields(native.modules()), values.read("types/essh_modules.lua"),
      "types/essh_modules.lua is stale")
    local readme = values.read("README.md")
    assert.equal(gen.readme_with_needs(readme, native.modules()), readme, "README.md's permissions table is stale")
  end)

  it("every native module has its lua/essh/ file: a fresh shim, or a Lua half of its own", function()
    for _, def in ipairs(native.modules()) do
      local path = "lua/essh/" .. def.name .. ".lua"
      assert.is_true(values.exists(path), path .. " is missing (run `make generate`)")
      local text = values.read(path)
      if gen.is_shim(text) then assert.equal(gen.shim(def), text, path .. " is stale") end
    end
  end)

  it("every generated shim belongs to a native module", function()
    local names = {}
    for _, def in ipairs(native.modules()) do names[def.name] = true end
    for name in io.popen("ls lua/essh"):lines() do
      local module = name:match("^(.-)%.lua$")
      if module and gen.is_shim(values.read("lua/essh/" .. name)) then
        assert.is_true(names[module] ~= nil, "lua/essh/" .. name .. " is a shim of no native module")
      end
    end
  end)

  it("offers every declared function as essh.<name>, require 'essh.<name>' and a config's short name", function()
    local essh = require "essh"
    local config = require "essh.config"
    for _, def in ipairs(native.modules()) do
      local module = require("essh." .. def.name)
      assert.equal(module, essh[def.name], "essh." .. def.name)
      assert.equal(module, config.require(def.name), "short name " .. def.name)
      -- A hand-written module (essh.fs) may wrap a native function (to take essh v3's forms of it).
      local shim = gen.is_shim(values.read("lua/essh/" .. def.name .. ".lua"))
      for _, f in ipairs(def.functions) do
        if shim then
          assert.equal(native[def.name][f.name], module[f.name], def.name .. "." .. f.name)
        else
          assert.is_function(module[f.name], def.name .. "." .. f.name)
        end
      end
    end
    for _, name in ipairs(require("essh.modules").LUA) do
      assert.equal(require("essh." .. name), essh[name], "essh." .. name)
      assert.equal(essh[name], config.require(name), "short name " .. name)
    end
  end)
end)
