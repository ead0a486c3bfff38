-- JSONTestSuite and yaml-test-suite, copied into spec/data (licenses beside them).
local json = require "essh.json"
local yaml = require "essh.yaml"
local values = require "support.values"

local DATA = "spec/data/"

describe("JSONTestSuite", function()
  local files = values.listdir(DATA .. "JSONTestSuite")
  local counts = { y = 0, n = 0, i = 0 }

  it("accepts every y_ case, rejects every n_ case and survives every i_ case", function()
    local wrong = {}
    for _, name in ipairs(files) do
      local kind = name:match("^([yni])_.*%.json$")
      if kind then
        counts[kind] = counts[kind] + 1
        local ok, value, err = pcall(json.decode, values.read(DATA .. "JSONTestSuite/" .. name))
        if not ok then
          wrong[#wrong + 1] = name .. " raised " .. tostring(value)
        elseif kind == "y" and value == nil then
          wrong[#wrong + 1] = name .. " rejected: " .. tostring(err)
        elseif kind == "n" and value ~= nil then
          wrong[#wrong + 1] = name .. " accepted"
        elseif kind == "n" and err.kind ~= "invalid" then
          wrong[#wrong + 1] = name .. " failed with kind " .. err.kind
        end
      end
    end
    assert.same({}, wrong)
    assert.is_true(counts.y >= 95 and counts.n >= 188 and counts.i >= 35)
  end)

  it("re-encodes every accepted y_ case to text that decodes to the same value", function()
    for _, name in ipairs(files) do
      if name:match("^y_") then
        local value = json.decode(values.read(DATA .. "JSONTestSuite/" .. name))
        local text = assert(json.encode(value), name)
        assert.is_true(values.same(value, json.decode(text)), name)
      end
    end
  end)
end)

-- Every case folder holds in.yaml and either in.json (the expected value) or error.
local function cases()
  local list = {}
  local root = DATA .. "yaml-test-suite/cases/"
  for _, id in ipairs(values.listdir(root)) do
    if values.exists(root .. id .. "/in.yaml") then
      list[#list + 1] = { id = id, dir = root .. id .. "/" }
    else
      for _, sub in ipairs(values.listdir(root .. id)) do
        if values.exists(root .. id .. "/" .. sub .. "/in.yaml") then
          list[#list + 1] = { id = id .. "/" .. sub, dir = root .. id .. "/" .. sub .. "/" }
        end
      end
    end
  end
  return list
end

--- Runs one case: "pass" or "fail". A case with neither in.json nor error (its value has no
--- JSON form) passes when it decodes without error.
local function run(case)
  local source = values.read(case.dir .. "in.yaml")
  local ok, docs, err = pcall(yaml.decode, source, { all = true })
  if not ok then return "fail", "raised " .. tostring(docs) end
  if values.exists(case.dir .. "error") then
    if docs == nil then return "pass" end
    return "fail", "accepted invalid YAML"
  end
  if not values.exists(case.dir .. "in.json") then
    if err == nil then return "pass" end
    return "fail", tostring(err)
  end
  if docs == nil then return "fail", tostring(err) end
  local expected = json.decode(values.read(case.dir .. "in.json"), { all = true })
  if values.same(docs, expected) then return "pass" end
  return "fail", "decoded value differs from in.json"
end

describe("yaml-test-suite", function()
  it("passes every case but the known failures listed in spec/data/yaml-known-failures.txt", function()
    local known = {}
    for line in values.read(DATA .. "yaml-known-failures.txt"):gmatch("[^\n]+") do
      local id = line:match("^(%S+)")
      if id and not id:match("^#") then known[id] = true end
    end
    local passed, failed, regressions, fixed = 0, 0, {}, {}
    for _, case in ipairs(cases()) do
      local outcome, why = run(case)
      if outcome == "pass" then
        passed = passed + 1
        if known[case.id] then fixed[#fixed + 1] = case.id end
      else
        failed = failed + 1
        if not known[case.id] then regressions[#regressions + 1] = case.id .. ": " .. why end
      end
    end
    if os.getenv("YAML_SUITE_REPORT") then
      print(("\nyaml-test-suite: %d passed, %d failed"):format(passed, failed))
    end
    assert.same({}, regressions)
    assert.same({}, fixed)
  end)
end)
