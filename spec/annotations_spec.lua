-- types/essh.lua annotates the Lua API by hand; these specs hold it to the code.
local values = require "support.values"

-- The classes of an annotation file: name -> { fields = set, methods = set }, and the
-- functions declared on `owner.` or `owner:`.
local function parse(text)
  local classes, current = {}, nil
  local functions = {}
  for line in text:gmatch("[^\n]*") do
    local class = line:match("^%-%-%-@class ([%w%.]+)")
    if class then
      current = { fields = {} }
      classes[class] = current
    else
      local field = line:match("^%-%-%-@field ([%w_]+)")
      if field and current then current.fields[field] = true end
      local owner, name = line:match("^function ([%w_]+)[%.:]([%w_]+)%(")
      if owner then
        functions[owner] = functions[owner] or {}
        functions[owner][name] = true
      end
      local alias, body = line:match("^%-%-%-@alias ([%w%.]+) (.*)$")
      if alias then classes[alias] = { alias = body } end
    end
  end
  return classes, functions
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function keys_of(t)
  local s = {}
  for k in pairs(t) do s[k] = true end
  return s
end

local function sorted(s)
  local list = {}
  for k in pairs(s) do list[#list + 1] = k end
  table.sort(list)
  return list
end

describe("types/essh.lua", function()
  local classes, functions = parse(values.read("types/essh.lua"))

  it("annotates every field and function of essh, and nothing it lacks", function()
    local essh = require "essh"
    local annotated = {}
    for k in pairs(classes.essh.fields) do annotated[k] = true end
    for k in pairs(parse(values.read("types/essh_modules.lua")).essh.fields) do annotated[k] = true end
    for k in pairs(functions.essh) do annotated[k] = true end
    -- Every key of essh is annotated; every annotated field is there (ssh_config is read through a metatable).
    for k in pairs(keys_of(essh)) do assert.is_true(annotated[k], "essh." .. k .. " is not annotated") end
    for k in pairs(annotated) do assert.is_not_nil(essh[k], "essh." .. k .. " is annotated but missing") end
    for name in pairs(functions.essh) do
      local v = essh[name]
      assert.is_true(type(v) == "function" or (getmetatable(v) or {}).__call ~= nil, "essh." .. name)
    end
  end)

  it("annotates exactly the fields a task definition may have", function()
    assert.same(sorted(keys_of(require("essh.config").TASK_FIELDS)), sorted(classes["essh.TaskSpec"].fields))
  end)

  it("annotates every metadata field of a host, and only real ssh options beside them", function()
    local host = require "essh.host"
    local metadata, options = {}, {}
    for field in pairs(classes["essh.HostSpec"].fields) do
      if field:match("^%u") then options[#options + 1] = field else metadata[field] = true end
    end
    assert.same(sorted(keys_of(host.FIELDS)), sorted(metadata))
    for _, option in ipairs(options) do assert.equal(option, host.keyword(option), option) end
  end)

  it("annotates every method of the task context", function()
    local methods = {}
    for k, v in pairs(require("essh.context").methods) do
      if type(v) == "function" and not k:match("^__") then methods[k] = true end
    end
    assert.same(sorted(methods), sorted(functions.Context))
  end)

  it("annotates every option of essh.run, and the fields its reports have", function()
    local runner = require "essh.runner"
    assert.same(sorted(set_of(runner.OPTIONS)), sorted(classes["essh.RunOptions"].fields))
    local config = require "essh.config"
    local dsl = config.new()
    local quiet = { write = function() end }
    local seen = {}
    local reports = {
      runner.run(dsl.registry, dsl.task("ok", { script = "true" }), { stdout = quiet, stderr = quiet }),
      runner.run(dsl.registry, dsl.task("stop", { script = "true", prepare = function() return false end }),
        { stdout = quiet, stderr = quiet }),
      runner.run(dsl.registry, dsl.task("nowhere", { targets = "none", script = "true" }),
        { stdout = quiet, stderr = quiet }),
    }
    for _, report in ipairs(reports) do
      for k in pairs(report) do seen[k] = true end
      for _, entry in pairs(report.hosts) do
        for k in pairs(entry) do assert.is_true(classes["essh.HostReport"].fields[k], "host entry field " .. k) end
      end
    end
    seen.interrupted = true -- only a Ctrl-C sets it
    assert.same(sorted(seen), sorted(classes["essh.Report"].fields))
  end)

  it("names every event", function()
    local names = {}
    for name in classes["essh.Event"].alias:gmatch('"([%w_]+)"') do names[#names + 1] = name end
    assert.same(require("essh.runner.events").NAMES, names)
  end)
end)
