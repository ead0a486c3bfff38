local template = require "essh.template"
local fs = require "essh.fs"

describe("template", function()
  it("renders expressions, filters, conditions, loops and comments", function()
    local out = template.render([[
Hello {{ name | upper }}!
{% for h in hosts %}- {{ h.name }} {{ h.ip | shell }}
{% end %}{# not shown #}{% if admin %}admin{% elseif guest %}guest{% else %}nobody{% end %}
{{ missing | default("none") }} {{ data | json }} {{ "<b>" | html }}]], {
      name = "web", hosts = { { name = "a", ip = "10.0.0.1" }, { name = "b", ip = "it's" } }, guest = true,
      data = { 1, 2 },
    })
    assert.equal("Hello WEB!\n- a 10.0.0.1\n- b 'it'\\''s'\nguest\nnone [1,2] &lt;b&gt;", out)
  end)

  it("iterates over pairs when asked", function()
    local out = template.render("{% for k, v in pairs(t) %}{{ k }}={{ v }};{% end %}", { t = { a = 1 } })
    assert.equal("a=1;", out)
  end)

  it("quotes anything for a POSIX shell", function()
    assert.equal("plain/path-1.txt", template.filters.shell("plain/path-1.txt"))
    assert.equal("'a b'", template.filters.shell("a b"))
    assert.equal("''", template.filters.shell(""))
    assert.equal("'$(rm -rf /)'", template.filters.shell("$(rm -rf /)"))
  end)

  it("names the template line in syntax and runtime errors", function()
    assert.has_error(function() template.render("ok\n{{ x + }}", {}, "deploy.tpl") end)
    local ok, err = pcall(template.render, "ok\n{{ x + }}", {}, "deploy.tpl")
    assert.is_false(ok)
    assert.matches("^deploy.tpl:2:", err)
    assert.has_error(function() template.render("a\nb\n{{ host.name }}", {}, "t") end)
    local _, runtime_err = pcall(template.render, "a\nb\n{{ host.name }}", {}, "t")
    assert.matches("^t:3:", runtime_err)
    local _, open_err = pcall(template.render, "{% if x %}\nnever closed", {})
    assert.matches("template:1: {%% if %%} is never closed", open_err)
    local _, filter_err = pcall(template.render, "\n{{ x | nope }}", { x = 1 })
    assert.matches("template:2: unknown filter 'nope'", filter_err)
  end)

  it("compiles once and renders many times", function()
    local f = template.compile("{{ n }}")
    assert.equal("1", f({ n = 1 }))
    assert.equal("2", f({ n = 2 }))
    assert.equal(f, template.compile("{{ n }}"))
  end)

  it("renders files, naming them in errors", function()
    local dir = assert(fs.tempdir())
    local path = fs.join(dir, "motd.tpl")
    fs.write(path, "Welcome to {{ host }}\n{{ broken( }}\n")
    local ok, err = pcall(template.render_file, path, { host = "web1" })
    assert.is_false(ok)
    assert.matches(path .. ":2:", err, 1, true)
    fs.write(path, "Welcome to {{ host }}\n")
    assert.equal("Welcome to web1\n", template.render_file(path, { host = "web1" }))
    fs.remove(dir, { recursive = true })
  end)

  it("reveals secrets only where rendered", function()
    local secret = require "essh.secret"
    assert.equal("pw=hunter2", template.render("pw={{ p }}", { p = secret("hunter2") }))
  end)
end)
