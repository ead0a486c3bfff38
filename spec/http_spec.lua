local http = require "essh.http"
local runtime = require "essh.runtime"
local crypto = require "essh.crypto"
local fs = require "essh.fs"
local httpd = require "support.httpd"

describe("http", function()
  local server, tls

  setup(function()
    server = httpd.start()
    tls = httpd.start({ tls = true })
  end)

  teardown(function()
    server.stop()
    tls.stop()
  end)

  it("gets a response with status, body, final url and case-insensitive headers", function()
    local r = assert(http.get(server.url .. "/hello"))
    assert.equal(200, r.status)
    assert.is_true(r.ok)
    assert.equal("hello", r.body)
    assert.equal("yes", r.headers["X-Essh"])
    assert.equal("yes", r.headers["x-essh"])
    assert.equal("a=1, b=2", r.headers["Set-Cookie"])
    assert.equal(server.url .. "/hello", r.url)
  end)

  it("sends methods, headers, query strings and JSON, form or raw bodies", function()
    local r = assert(http.request({ method = "put", url = server.url .. "/echo", query = { q = "a b", n = 1 },
      headers = { ["X-Token"] = "t" }, json = { deploy = true } }))
    local echo = assert(r.json())
    assert.equal("PUT", echo.method)
    assert.same({ q = "a b", n = "1" }, echo.query)
    assert.equal("t", echo.headers["x-token"])
    assert.equal("application/json", echo.headers["content-type"])
    assert.equal('{"deploy":true}', echo.body)
    echo = http.post(server.url .. "/echo", { form = { a = "1 2", b = "&" } }).json()
    assert.equal("a=1+2&b=%26", echo.body)
    assert.equal("application/x-www-form-urlencoded", echo.headers["content-type"])
    assert.equal("raw", http.patch(server.url .. "/echo", { body = "raw" }).json().body)
    assert.equal("DELETE", http.delete(server.url .. "/echo").json().method)
    assert.equal("", http.head(server.url .. "/hello").body)
  end)

  it("goes through a proxy when told", function()
    local r = assert(http.get("http://essh.invalid/through", { proxy = server.url }))
    assert.equal("http://essh.invalid/through", r.json().proxied)
  end)

  it("returns error statuses as responses, not errors", function()
    local r = assert(http.get(server.url .. "/status/503"))
    assert.equal(503, r.status)
    assert.is_false(r.ok)
  end)

  it("follows redirects up to a limit, or not at all when asked", function()
    assert.equal("done", http.get(server.url .. "/redirect/3").body)
    assert.equal(302, http.get(server.url .. "/redirect/3", { follow_redirects = false }).status)
    local r, err = http.get(server.url .. "/redirect/5", { max_redirects = 2 })
    assert.is_nil(r)
    assert.matches("redirect", err.message)
  end)

  it("verifies TLS certificates: fails for an unknown CA, succeeds with ca_file or explicit insecure", function()
    local r, err = http.get(tls.url .. "/hello")
    assert.is_nil(r)
    assert.equal("tls", err.kind)
    assert.equal("hello", assert(http.get(tls.url .. "/hello", { ca_file = tls.ca_file })).body)
    assert.equal("hello", assert(http.get(tls.url .. "/hello", { insecure = true })).body)
  end)

  it("times out against a server that accepts but never answers", function()
    local t0 = runtime.monotonic()
    local r, err = http.get(server.url .. "/delay/5000", { timeout = 0.3 })
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.is_true(err.retryable)
    assert.is_true(runtime.monotonic() - t0 < 2)
  end)

  it("times out against a port that accepts connections and never answers", function()
    local port, stop = require("support.shell").silent_listener()
    finally(stop)
    local t0 = runtime.monotonic()
    local r, err = http.get(("http://127.0.0.1:%d/"):format(port), { timeout = 0.5 })
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.is_true(runtime.monotonic() - t0 < 2)
  end)

  it("reports a refused connection as a retryable network error", function()
    local r, err = http.get("http://127.0.0.1:1/")
    assert.is_nil(r)
    assert.equal("network", err.kind)
    assert.is_true(err.retryable)
  end)

  it("runs 100 requests at once under the scheduler", function()
    local fns = {}
    for i = 1, 100 do fns[i] = function() return http.get(server.url .. "/delay/100").status end end
    local t0 = runtime.monotonic()
    local rs = runtime.parallel(fns)
    assert.is_true(runtime.monotonic() - t0 < 1, "took " .. (runtime.monotonic() - t0))
    for i = 1, 100 do assert.equal(200, rs[i][1]) end
  end)

  it("downloads 100 MiB to a file, atomically, with progress", function()
    local dir = assert(fs.tempdir())
    local path = fs.join(dir, "big.bin")
    local calls, last = 0, nil
    local n = assert(http.download(server.url .. "/bytes/104857600", path, {
      on_progress = function(received, total)
        calls = calls + 1
        last = { received, total }
      end,
    }))
    assert.equal(104857600, n)
    assert.is_true(calls > 1)
    assert.same({ 104857600, 104857600 }, last)
    -- The server repeats bytes 0..255: the digest of the same pattern made here must match.
    local pattern = {}
    for i = 0, 255 do pattern[#pattern + 1] = string.char(i) end
    local block = table.concat(pattern):rep(256)
    local h = crypto.hasher("sha256")
    for _ = 1, 104857600 / #block do h:update(block) end
    assert.equal(h:hex(), crypto.file_digest(path, "sha256"))
    local v, err = http.download(server.url .. "/status/404", fs.join(dir, "missing"))
    assert.is_nil(v)
    assert.equal("remote", err.kind)
    assert.is_false(fs.exists(fs.join(dir, "missing")))
    fs.remove(dir, { recursive = true })
  end)

  it("rejects bad input with a clear error", function()
    assert.has_error(function() http.get("ftp://x/") end, "http.get: unsupported URL scheme 'ftp'")
    assert.has_error(function() http.get(server.url, { tiemout = 1 }) end, "http.get: unknown option 'tiemout'")
    assert.has_error(function() http.request({}) end, "http.request: option 'url' is required")
  end)
end)
