local time = require "essh.time"
local runtime = require "essh.runtime"

describe("time", function()
  it("tells the wall-clock time, as os.time does, with a fraction", function()
    assert.is_true(math.abs(time.now() - os.time()) < 2)
  end)

  it("sleeps, yielding under the scheduler", function()
    local t0 = time.monotonic()
    runtime.parallel({ function() time.sleep(0.2) end, function() time.sleep(0.2) end })
    local elapsed = time.monotonic() - t0
    assert.is_true(elapsed >= 0.2 and elapsed < 0.35, "took " .. elapsed)
  end)

  it("formats and parses ISO 8601 and strftime formats", function()
    local t = assert(time.parse("2026-11-22T07:30:15Z"))
    assert.equal(1795332615, t)
    assert.equal("2026-11-22T07:30:15Z", time.format(t, "!iso"))
    assert.equal(t, time.parse("2026-11-22T09:30:15+02:00"))
    assert.equal("22/11/2026", time.format(t, "!%d/%m/%Y"))
    assert.equal(t - 15, time.parse("22.11.2026 07:30", "!%d.%m.%Y %H:%M"))
    assert.equal(t, time.parse(time.format(t)))
    local v, err = time.parse("yesterday")
    assert.is_nil(v)
    assert.equal("invalid", err.kind)
  end)

  it("reads durations", function()
    assert.equal(90, time.duration("1m30s"))
    assert.equal(5400, time.duration("1.5h"))
    assert.equal(0.25, time.duration("250ms"))
    assert.equal(10, time.duration("10"))
    local v, err = time.duration("soon")
    assert.is_nil(v)
    assert.matches("not a duration", err.message)
  end)
end)
