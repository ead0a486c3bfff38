local env = require "essh.env"
local fs = require "essh.fs"

describe("env", function()
  it("gets, sets and unsets variables, with defaults", function()
    env.set("ESSH_SPEC_VAR", "v1")
    assert.equal("v1", env.get("ESSH_SPEC_VAR"))
    assert.equal("v1", os.getenv("ESSH_SPEC_VAR"))
    env.unset("ESSH_SPEC_VAR")
    assert.is_nil(env.get("ESSH_SPEC_VAR"))
    assert.equal("d", env.get("ESSH_SPEC_VAR", "d"))
    assert.has_error(function() env.set("A=B", "x") end)
    assert.is_string(env.all().PATH)
  end)

  it("parses .env files: export, quotes, escapes, comments, multi-line values", function()
    local vars = assert(env.parse([[
# a comment
PLAIN=1
export SPACED = two words   # trailing comment
DQ="line\nnext"
SQ='single $raw \n'
EMPTY=
HASH=a#b
MULTI="first
second"
]]))
    assert.same({
      PLAIN = "1", SPACED = "two words", DQ = "line\nnext", SQ = "single $raw \\n", EMPTY = "", HASH = "a#b",
      MULTI = "first\nsecond",
    }, vars)
    local v, err = env.parse("A=1\nnot a pair\n")
    assert.is_nil(v)
    assert.equal("invalid", err.kind)
    assert.matches("line 2", err.message)
  end)

  it("loads a .env file without replacing variables already set, unless told to", function()
    local path = fs.join(assert(fs.tempdir()), ".env")
    fs.write(path, "ESSH_SPEC_A=from-file\nESSH_SPEC_B=b\n")
    env.set("ESSH_SPEC_A", "from-env")
    assert.same({ ESSH_SPEC_A = "from-file", ESSH_SPEC_B = "b" }, env.load(path))
    assert.equal("from-env", env.get("ESSH_SPEC_A"))
    assert.equal("b", env.get("ESSH_SPEC_B"))
    env.load(path, { override = true })
    assert.equal("from-file", env.get("ESSH_SPEC_A"))
    local none, err = env.load(path .. ".missing")
    assert.is_nil(none)
    assert.equal("not_found", err.kind)
    fs.remove(fs.dirname(path), { recursive = true })
  end)

  it("expands variables with defaults and required markers", function()
    env.set("ESSH_SPEC_X", "x")
    assert.equal("x-x-def-local", env.expand("$ESSH_SPEC_X-${ESSH_SPEC_X}-${ESSH_SPEC_NONE:-def}-${L}", { L = "local" }))
    assert.equal("$ESSH_SPEC_X costs $5", env.expand("\\$ESSH_SPEC_X costs $5"))
    local v, err = env.expand("${ESSH_SPEC_NONE:?must be set}")
    assert.is_nil(v)
    assert.equal("ESSH_SPEC_NONE: must be set", err.message)
  end)
end)
