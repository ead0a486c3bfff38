local yaml = require "essh.yaml"
local json = require "essh.json"
local values = require "support.values"

describe("yaml.decode", function()
  it("resolves plain scalars by the YAML 1.2 core schema", function()
    local v = assert(yaml.decode("a: 1\nb: 1.5\nc: true\nd: ~\ne: hello\nf: '1'\ng: 0x10\nh: .inf\ni: yes\n"))
    assert.equal(1, v.a)
    assert.equal(1.5, v.b)
    assert.is_true(v.c)
    assert.equal(yaml.null, v.d)
    assert.equal("hello", v.e)
    assert.equal("1", v.f)
    assert.equal(16, v.g)
    assert.equal(math.huge, v.h)
    assert.equal("yes", v.i)
  end)

  it("shares null with json", function()
    assert.equal(json.null, yaml.null)
    assert.equal(json.array_mt, yaml.array_mt)
  end)

  it("expands aliases and merge keys, explicit keys winning", function()
    local v = assert(yaml.decode([[
base: &base {user: deploy, port: 22}
extra: &extra {port: 2222, shell: bash}
web:
  port: 8022
  <<: [*base, *extra]
again: *base
]]))
    assert.same({ user = "deploy", port = 8022, shell = "bash" }, v.web)
    assert.equal(v.base, v.again)
  end)

  it("decodes every document with all = true, and refuses several without it", function()
    local docs = assert(yaml.decode("--- 1\n--- [a]\n---\n", { all = true }))
    assert.equal(3, #docs)
    assert.equal("a", docs[2][1])
    assert.equal(yaml.null, docs[3])
    local v, err = yaml.decode("--- 1\n--- 2\n")
    assert.is_nil(v)
    assert.matches("2 documents", err.message)
  end)

  it("refuses a max_depth outside 1..10000, as json does, instead of changing it", function()
    for _, depth in ipairs { 0, 10001 } do
      local message = "max_depth must be between 1 and 10000, got " .. depth
      assert.has_error(function() yaml.decode("a: 1", { max_depth = depth }) end, message)
      assert.has_error(function() yaml.encode({ a = 1 }, { max_depth = depth }) end, message)
      assert.has_error(function() json.decode("1", { max_depth = depth }) end, message)
    end
    assert.is_nil(yaml.decode("a: [[1]]", { max_depth = 2 }))
  end)

  it("returns nil for an empty stream", function()
    local v, err = yaml.decode("")
    assert.is_nil(v)
    assert.is_nil(err)
  end)

  it("reports syntax errors with line and column", function()
    local v, err = yaml.decode("a: 1\nb: [1, 2\n")
    assert.is_nil(v)
    assert.equal("invalid", err.kind)
    assert.matches("^invalid YAML at line %d+, column %d+: ", err.message)
    assert.is_number(err.details.line)
  end)

  it("refuses duplicate keys, naming the line", function()
    local v, err = yaml.decode("a: 1\nb: 2\na: 3\n")
    assert.is_nil(v)
    assert.equal("invalid YAML at line 3, column 1: duplicate mapping key", err.message)
  end)

  it("refuses alias bombs quickly", function()
    local lines = { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" }
    for i = 1, 9 do
      local p = "*a" .. (i - 1)
      lines[#lines + 1] = ("a%d: &a%d [%s]"):format(i, i, table.concat({ p, p, p, p, p, p, p, p, p, p }, ", "))
    end
    local v, err = yaml.decode(table.concat(lines, "\n"))
    assert.is_nil(v)
    assert.matches("alias bomb", err.message)
  end)
end)

describe("yaml.encode", function()
  it("writes block style that decodes back to the same value", function()
    local value = {
      name = "web", port = 22, ratio = 0.5, enabled = true, nothing = json.null,
      tags = { "a", "b" }, hosts = { { name = "h1", ip = "10.0.0.1" } },
      tricky = { "yes", "1", "", " padded", "a: b", "#x", "multi\nline\n", "-", "null" },
      empty_list = json.empty_array, empty_map = {},
    }
    local text = assert(yaml.encode(value))
    assert.is_true(values.same(value.tricky, yaml.decode(text).tricky))
    local back = assert(yaml.decode(text))
    back.empty_list = json.empty_array
    assert.is_true(values.same(value, back))
  end)

  it("encodes large nested arrays on every interpreter", function()
    local rows = {}
    for i = 1, 20000 do rows[i] = { i, i + 0.5 } end
    local text = assert(yaml.encode({ rows = rows }))
    assert.equal(20000.5, yaml.decode(text).rows[20000][2])
  end)

  it("sorts keys for stable output", function()
    assert.equal("a: 1\nb: 2\nc: 3\n", yaml.encode({ c = 3, b = 2, a = 1 }))
  end)

  it("writes several documents with all = true", function()
    assert.equal("---\na: 1\n---\n- x\n", yaml.encode({ { a = 1 }, { "x" } }, { all = true }))
  end)

  it("refuses cycles and functions, naming the path", function()
    local t = {}
    t.me = t
    assert.equal("yaml.encode: cannot encode a table that contains itself at $.me", select(2, yaml.encode(t)).message)
    assert.equal("yaml.encode: cannot encode a function value at $.f", select(2, yaml.encode({ f = print })).message)
  end)
end)

describe("yaml.read and yaml.write", function()
  it("write a file atomically and read it back", function()
    local path = values.tempname()
    assert.is_true(yaml.write(path, { a = { 1, 2 } }))
    assert.same({ 1, 2 }, setmetatable(yaml.read(path).a, nil))
    os.remove(path)
  end)

  it("name the file in errors", function()
    local v, err = yaml.read("/nonexistent/x.yml")
    assert.is_nil(v)
    assert.equal("not_found", err.kind)
    assert.equal("/nonexistent/x.yml", err.details.path)
    local path = values.tempname()
    local f = io.open(path, "w")
    f:write("a: [")
    f:close()
    v, err = yaml.read(path)
    assert.is_nil(v)
    assert.equal(path, err.message:sub(1, #path))
    os.remove(path)
  end)

  it("leave no partial file when the directory is missing", function()
    local ok, err = yaml.write("/nonexistent/dir/x.yml", { a = 1 })
    assert.is_nil(ok)
    assert.equal("not_found", err.kind)
  end)
end)
