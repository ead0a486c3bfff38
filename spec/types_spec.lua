local gen = dofile("tools/gen_types.lua")
local native = require "essh_native"
local values = require "support.values"

describe("types/", function()
  it("matches the module definitions (run `make types` after changing them)", function()
    for _, def in ipairs(native.modules()) do
      local path = "types/" .. def.name .. ".lua"
      assert.is_true(values.exists(path), path .. " is missing")
      assert.equal(gen.render(def), values.read(path), path .. " is stale")
    end
    assert.equal(gen.error_class, values.read("types/error.lua"))
  end)
end)
