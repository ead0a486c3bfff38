local native = require "essh_native"

describe("essh_native", function()
  it("loads each submodule on its own, sharing one table per state", function()
    assert.equal(native.json, require "essh_native.json")
    assert.equal(native.yaml, require "essh_native.yaml")
    assert.equal(native.crypto, require "essh_native.crypto")
    assert.equal(native.base64, require "essh_native.base64")
  end)

  it("refuses assignment into its tables with a clear error", function()
    assert.has_error(function() native.json.encode = nil end,
      "essh_native.json is read-only: cannot assign to field 'encode'")
    assert.has_error(function() native.extra = 1 end)
    assert.has_error(function() setmetatable(native.json, nil) end)
    assert.is_function(native.json.encode)
  end)

  it("raises errors at the caller's line as plain strings", function()
    local ok, err = pcall(native.json.decode)
    assert.is_false(ok)
    assert.equal("string", type(err))
    local line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() native.json.decode(nil) end)
    assert.is_false(ok)
    assert.matches("module_spec.lua:" .. line .. ": bad argument #1 to 'json.decode'", err)
  end)

  it("describes every module: name, description, classes and signatures", function()
    local defs = native.modules()
    local by_name = {}
    for _, def in ipairs(defs) do by_name[def.name] = def end
    assert.same({ "deterministic" }, by_name.json.classes)
    assert.is_string(by_name.yaml.description)
    local names = {}
    for _, f in ipairs(by_name.json.functions) do names[#names + 1] = f.name end
    table.sort(names)
    assert.same({ "decode", "encode" }, names)
    for _, def in ipairs(defs) do
      for _, f in ipairs(def.functions) do
        assert.is_function(native[def.name][f.name], def.name .. "." .. f.name)
        assert.matches("^%(.*%) %-> %(.*%)$", f.signature)
      end
    end
  end)

  it("lists its tables' contents through pairs where the interpreter has __pairs", function()
    if _VERSION == "Lua 5.1" then return end -- 5.1 and LuaJIT have no __pairs
    local keys = {}
    for k in pairs(native.json) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.same({ "array_mt", "decode", "empty_array", "encode", "null" }, keys)
  end)
end)

describe("essh", function()
  it("sets no globals when required", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    package.loaded.essh = nil
    local essh = require "essh"
    for k in pairs(_G) do assert.is_true(before[k] ~= nil, "new global " .. tostring(k)) end
    assert.equal(native.json, essh.json)
    assert.equal(native.version, essh._VERSION)
  end)

  it("offers each native module as essh.<name>", function()
    for _, name in ipairs { "json", "yaml", "crypto", "base64" } do
      assert.equal(native[name], require("essh." .. name))
    end
  end)
end)

describe("the permissions functions declare", function()
  local function needs_of(module, fn)
    for _, def in ipairs(native.modules()) do
      if def.name == module then
        for _, f in ipairs(def.functions) do
          if f.name == fn then
            local out = {}
            for i, n in ipairs(f.needs) do out[i] = n.permission .. " " .. n.resource end
            return out
          end
        end
      end
    end
    error("no function " .. module .. "." .. fn)
  end

  it("name the permission and where its resource is in the arguments", function()
    assert.same({ "read argument 1" }, needs_of("fs", "read"))
    assert.same({ "read argument 1", "write argument 2" }, needs_of("fs", "copy"))
    assert.same({ "net the host of argument 1", "write argument 2" }, needs_of("http", "download"))
    assert.same({ "ssh each hop's name and address, jump hosts too; and run of sh for a ProxyCommand" },
      needs_of("ssh", "connect"))
    assert.same({ "run the program of argument 1" }, needs_of("process", "run"))
    assert.same({ "env any" }, needs_of("env", "all"))
  end)

  it("are none for deterministic modules, and only in modules classed io, network or nondeterministic", function()
    for _, def in ipairs(native.modules()) do
      local acts = false
      for _, class in ipairs(def.classes) do acts = acts or class ~= "deterministic" end
      for _, f in ipairs(def.functions) do
        if not acts then assert.same({}, f.needs, def.name .. "." .. f.name .. " is deterministic and needs nothing") end
      end
    end
    for _, name in ipairs { "json", "base64", "gotemplate", "re" } do
      for _, def in ipairs(native.modules()) do
        if def.name == name then assert.same({ "deterministic" }, def.classes, name) end
      end
    end
    for _, fn in ipairs { "decode", "encode" } do assert.same({}, needs_of("yaml", fn)) end
    assert.same({}, needs_of("crypto", "sha256"))
  end)
end)
