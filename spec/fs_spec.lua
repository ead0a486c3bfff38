local fs = require "essh.fs"
local lua = require "support.lua"

describe("fs", function()
  local dir

  before_each(function() dir = assert(fs.tempdir("essh-spec")) end)
  after_each(function() fs.remove(dir, { recursive = true }) end)

  it("writes atomically, keeping the mode of the file it replaces, and reads back", function()
    local path = fs.join(dir, "a.txt")
    assert.is_true(fs.write(path, "one", { mode = tonumber("600", 8) }))
    assert.is_true(fs.write(path, "two"))
    assert.equal("two", fs.read(path))
    assert.equal(tonumber("600", 8), fs.stat(path).mode)
    assert.same({ "a.txt" }, fs.list(dir))
  end)

  it("keeps the old content when a write is interrupted", function()
    local path = fs.join(dir, "precious")
    fs.write(path, "old")
    local command, script = lua.script(([[
      local fs = require "essh.fs"
      fs.write(%q, string.rep("x", 300 * 1024 * 1024))
    ]]):format(path))
    local p = io.popen("(" .. command .. " & pid=$!; sleep 0.2; kill -KILL $pid; wait $pid) 2>&1")
    p:read("*a")
    p:close()
    os.remove(script)
    assert.equal("old", fs.read(path))
  end)

  it("returns nil and a structured error for missing files", function()
    local data, err = fs.read(fs.join(dir, "missing"))
    assert.is_nil(data)
    assert.equal("not_found", err.kind)
    assert.matches("missing", err.message)
    assert.is_false(fs.exists(fs.join(dir, "missing")))
  end)

  it("appends, stats, copies and moves", function()
    local a, b, c = fs.join(dir, "a"), fs.join(dir, "b"), fs.join(dir, "c")
    fs.append(a, "1")
    fs.append(a, "2")
    assert.equal("12", fs.read(a))
    local st = fs.stat(a)
    assert.equal(2, st.size)
    assert.equal("file", st.type)
    assert.is_false(st.symlink)
    assert.is_true(fs.copy(a, b))
    assert.is_true(fs.move(b, c))
    assert.is_false(fs.exists(b))
    assert.equal("12", fs.read(c))
    assert.equal("directory", fs.stat(dir).type)
  end)

  it("makes directories, with parents only when asked", function()
    local deep = fs.join(dir, "x", "y", "z")
    local ok, err = fs.mkdir(deep)
    assert.is_nil(ok)
    assert.equal("not_found", err.kind)
    assert.is_true(fs.mkdir(deep, { parents = true }))
    assert.is_true(fs.mkdir(deep, { parents = true }))
  end)

  it("removes a directory tree only when asked to recurse", function()
    fs.mkdir(fs.join(dir, "t", "u"), { parents = true })
    fs.write(fs.join(dir, "t", "u", "f"), "x")
    local ok, err = fs.remove(fs.join(dir, "t"))
    assert.is_nil(ok)
    assert.matches("not empty", err.message)
    assert.is_true(fs.exists(fs.join(dir, "t", "u", "f")))
    assert.is_true(fs.remove(fs.join(dir, "t"), { recursive = true }))
    assert.is_false(fs.exists(fs.join(dir, "t")))
  end)

  it("globs with *, ?, [] and **, sorted, skipping hidden names", function()
    for _, p in ipairs({ "a.lua", "b.lua", "c.txt", ".hidden.lua", "sub/d.lua", "sub/deeper/e.lua" }) do
      fs.mkdir(fs.dirname(fs.join(dir, p)), { parents = true })
      fs.write(fs.join(dir, p), "")
    end
    assert.same({ dir .. "/a.lua", dir .. "/b.lua" }, fs.glob(dir .. "/*.lua"))
    assert.same({ dir .. "/a.lua" }, fs.glob(dir .. "/[a]?lua"))
    assert.same({ dir .. "/a.lua", dir .. "/b.lua", dir .. "/sub/d.lua", dir .. "/sub/deeper/e.lua" },
      fs.glob(dir .. "/**/*.lua"))
    assert.same({}, fs.glob(dir .. "/*.none"))
  end)

  it("iterates over a directory and handles paths", function()
    fs.write(fs.join(dir, "b"), "")
    fs.write(fs.join(dir, "a"), "")
    local names = {}
    for name in fs.dir(dir) do names[#names + 1] = name end
    assert.same({ "a", "b" }, names)
    assert.has_error(function() fs.dir(fs.join(dir, "nope")) end)
    assert.equal("/x/y", fs.dirname("/x/y/z.txt"))
    assert.equal("z.txt", fs.basename("/x/y/z.txt"))
    assert.equal("/x/z", fs.abspath("/x/y/../z"))
    assert.equal("/abs/c", fs.join("a", "/abs", "c"))
  end)

  it("knows the directory of the calling script", function()
    assert.equal(fs.abspath("spec"), fs.script_dir())
  end)

  it("makes private temporary files and directories", function()
    local f = assert(fs.tempfile("essh-spec"))
    assert.equal(tonumber("600", 8), fs.stat(f).mode)
    assert.equal(tonumber("700", 8), fs.stat(dir).mode)
    fs.remove(f)
    assert.is_true(fs.chmod(dir, tonumber("755", 8)))
    assert.equal(tonumber("755", 8), fs.stat(dir).mode)
  end)

  it("works as the seed's example expects: write returns true", function()
    local ok = fs.write(fs.join(dir, "config.json"), "{}")
    assert.is_true(ok)
  end)
end)
