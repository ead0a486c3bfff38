local log = require "essh.log"
local inspect = require "essh.inspect"
local secret = require "essh.secret"
local json = require "essh.json"
local fs = require "essh.fs"

describe("log", function()
  local path

  before_each(function()
    path = assert(fs.tempfile())
    log.set_file(path)
    log.set_format("text")
    log.set_level("info")
  end)

  after_each(function()
    log.set_file(nil)
    log.set_level("info")
    fs.remove(path)
  end)

  local function lines()
    local out = {}
    for line in (fs.read(path) or ""):gmatch("[^\n]+") do out[#out + 1] = line end
    return out
  end

  it("joins its arguments like print, above the level threshold", function()
    log.debug("hidden")
    log.info("deployed", 42, true)
    log.set_level("error")
    log.warn("hidden too")
    log.error("boom")
    local l = lines()
    assert.equal(2, #l)
    assert.matches("^%d%d:%d%d:%d%d INFO deployed 42 true$", l[1])
    assert.matches("ERROR boom$", l[2])
  end)

  it("binds fields and writes JSON lines", function()
    log.set_format("json")
    local web = log.with({ host = "web1" })
    web:with({ step = "pull" }):info("ok")
    local record = json.decode(lines()[1])
    assert.equal("web1", record.host)
    assert.equal("pull", record.step)
    assert.equal("info", record.level)
    assert.equal("ok", record.message)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", record.time)
  end)

  it("never prints a secret", function()
    local pw = secret("hunter2")
    log.with({ password = pw }):warn("using", pw, { nested = pw })
    log.set_format("json")
    log.with({ password = pw }):warn("again")
    local text = fs.read(path)
    assert.is_nil(text:find("hunter2", 1, true))
    assert.equal("hunter2", secret.reveal(pw))
    assert.equal("pw: ******", "pw: " .. pw)
    assert.equal("******", tostring(pw))
  end)

  it("receives the warnings of native modules", function()
    local httpd = require "support.httpd"
    local tls = httpd.start({ tls = true })
    finally(tls.stop)
    assert(require("essh.http").get(tls.url .. "/hello", { insecure = true }))
    assert.matches("WARN TLS certificate verification is off for 127.0.0.1", fs.read(path))
  end)

  it("refuses unknown levels and formats", function()
    assert.has_error(function() log.set_level("loud") end)
    assert.has_error(function() log.set_format("xml") end)
  end)
end)

describe("inspect", function()
  it("dumps values with sorted keys", function()
    assert.equal('{\n  1,\n  "two",\n  a = true,\n  b = {\n    c = 1\n  },\n  ["not id"] = 2\n}',
      inspect({ 1, "two", b = { c = 1 }, a = true, ["not id"] = 2 }))
    assert.equal('"a\\nb"', inspect("a\nb"))
    assert.equal("{}", inspect({}))
  end)

  it("shows cycles and limits depth", function()
    local t = { name = "loop" }
    t.self = t
    assert.equal('<1>{\n  name = "loop",\n  self = <1>\n}', inspect(t))
    assert.equal("{\n  a = {...}\n}", inspect({ a = { b = 1 } }, { depth = 1 }))
  end)

  it("hides secrets", function()
    assert.equal("{\n  pw = ******\n}", inspect({ pw = secret("x") }))
  end)
end)
