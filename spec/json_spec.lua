local json = require "essh.json"
local values = require "support.values"

local has_integers = math.type ~= nil

describe("json.decode", function()
  it("decodes objects, arrays, strings, numbers, booleans and null", function()
    local v = assert(json.decode('{"a": [1, 2.5, "x", true, false, null], "b": {"c": -3e2}}'))
    assert.same({ 1, 2.5, "x", true, false, json.null }, setmetatable(v.a, nil))
    assert.equal(-300, v.b.c)
  end)

  it("keeps integers integers on interpreters that have them", function()
    local v = json.decode("[1, 1.0, 9007199254740993]")
    if has_integers then
      assert.equal("integer", math.type(v[1]))
      assert.equal("float", math.type(v[2]))
      assert.equal(9007199254740993, v[3])
    else
      assert.equal(1, v[1])
    end
  end)

  it("reads every number as the nearest float, like the interpreter's own tonumber", function()
    local texts = {
      "0.1", "-0.0", "1e23", "-65.61361699999998", "2.2250738585072011e-308", "4.9406564584124654e-324",
      "2.4703282292062328e-324", "1.7976931348623157e308", "9007199254740993.0", "7.2057594037927933e16",
      "1.00000000000000011102230246251565404236316680908203125", "0.000000000000000000001234567890123456789",
      "123456789012345678901234567890e-10", "1e-400", "3.0540412e5", "9.5e22",
    }
    for _, text in ipairs(texts) do
      local got = json.decode(text)
      assert.equal(tonumber(text), got, text)
      assert.equal(1 / tonumber(text), 1 / got, text) -- keeps the sign of zero
    end
    assert.equal(0, json.decode("0e999999999999"))
    local big, err = json.decode("[1e400]")
    assert.is_nil(big)
    assert.matches("out of range", err.message)
  end)

  it("decodes escapes and surrogate pairs", function()
    assert.equal('a"\\/\b\f\n\r\t\0', json.decode('"a\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000"'))
    assert.equal("\240\159\152\128", json.decode('"\\ud83d\\ude00"'))
    assert.equal("é", json.decode('"\\u00e9"'))
  end)

  it("marks decoded arrays so that empty arrays and objects stay apart", function()
    local v = json.decode('{"list": [], "map": {}}')
    assert.equal(json.array_mt, getmetatable(v.list))
    assert.is_nil(getmetatable(v.map))
    assert.equal('{"list":[],"map":{}}', json.encode(v, { sort_keys = true }))
  end)

  it("returns nil and a structured error with line, column and byte offset", function()
    local v, err = json.decode('{\n  "a": tru\n}')
    assert.is_nil(v)
    assert.equal("invalid", err.kind)
    assert.is_false(err.retryable)
    assert.equal(2, err.details.line)
    assert.equal(8, err.details.column)
    assert.equal(9, err.details.offset)
    assert.equal("invalid JSON at line 2, column 8 (byte 9): invalid literal", tostring(err))
  end)

  it("bounds nesting instead of overflowing the stack", function()
    local v, err = json.decode(string.rep("[", 100000))
    assert.is_nil(v)
    assert.matches("nesting deeper than 1000 levels", err.message)
    assert.is_table(json.decode(string.rep("[", 50) .. string.rep("]", 50), { max_depth = 50 }))
    assert.is_nil(json.decode(string.rep("[", 51) .. string.rep("]", 51), { max_depth = 50 }))
  end)

  it("rejects trailing text, bad UTF-8, lone surrogates and huge numbers", function()
    assert.matches("unexpected text", select(2, json.decode("[1] x")).message)
    assert.matches("invalid UTF%-8", select(2, json.decode('"\255"')).message)
    assert.matches("surrogate", select(2, json.decode('"\\ud800"')).message)
    assert.matches("out of range", select(2, json.decode("1e400")).message)
    assert.matches("empty input", select(2, json.decode("  ")).message)
  end)

  it("checks UTF-8 inside strings, escaped or not, and names stray bytes outside them", function()
    local _, err = json.decode('["ok", "caf\233"]')
    assert.matches("invalid UTF%-8", err.message)
    assert.equal(11, err.details.offset)
    _, err = json.decode('["\\n\255"]')
    assert.matches("invalid UTF%-8", err.message)
    assert.equal(4, err.details.offset)
    _, err = json.decode("[1, \255]")
    assert.matches("invalid UTF%-8", err.message)
    _, err = json.decode("[1, \195\169]")
    assert.matches("expected a value", err.message)
    local long = string.rep("\230\151\165", 40)
    assert.equal(long .. "\n" .. long, json.decode('"' .. long .. "\\n" .. long .. '"'))
  end)

  it("refuses leading zeros and bare signs", function()
    assert.matches("invalid number", select(2, json.decode("[01]")).message)
    assert.matches("invalid number", select(2, json.decode("[-]")).message)
    assert.equal(-0.5, json.decode("-0.5"))
    assert.equal(-123456789012345678, json.decode("-123456789012345678"))
  end)

  it("decodes repeated shapes of different sizes (size hints are only hints)", function()
    local doc = '[{"a":[1,2,3,4,5,6,7,8],"b":{"x":1,"y":2,"z":3}},{"a":[1],"b":{}},{"a":[],"b":{"x":1}}]'
    local v = json.decode(doc)
    assert.equal(8, #v[1].a)
    assert.equal(1, #v[2].a)
    assert.equal(0, #v[3].a)
    assert.equal(doc, json.encode(v, { sort_keys = true }))
  end)

  it("keeps every item of arrays longer than the items it holds back", function()
    -- Items wait on the stack in batches of 64 until their array's size is known.
    for _, n in ipairs { 1, 2, 63, 64, 65, 127, 128, 129, 1000 } do
      local items, nested = {}, {}
      for i = 1, n do
        items[i] = tostring(i)
        nested[i] = ("[%d,{\"k\":[%d,%d]},[]]"):format(i, i, -i)
      end
      local flat = assert(json.decode("[" .. table.concat(items, ",") .. "]"))
      assert.equal(n, #flat)
      for i = 1, n do assert.equal(i, flat[i]) end
      assert.is_nil(flat[n + 1])
      local deep = assert(json.decode("[" .. table.concat(nested, ",") .. "]"))
      assert.equal(n, #deep)
      assert.equal(n, deep[n][1])
      assert.equal(-n, deep[n][2].k[2])
      assert.equal(json.array_mt, getmetatable(deep[n][3]))
      assert.equal("[" .. table.concat(nested, ",") .. "]", json.encode(deep))
    end
    -- Levels that each hold items back while a deeper one is read.
    local doc = string.rep("[0,1,2,", 300) .. "3" .. string.rep("]", 300)
    local v = assert(json.decode(doc))
    for _ = 1, 299 do v = v[4] end
    assert.same({ 0, 1, 2, 3 }, setmetatable(v, nil))
    assert.equal(doc, json.encode(assert(json.decode(doc))))
  end)

  it("answers nesting deeper than the Lua stack allows with an error, not a raise", function()
    -- Lua 5.1 and LuaJIT give a C function 8,000 stack slots; 5.2 and later a million, and
    -- then the native stack bounds the encoder (it keeps 512 KiB of it free).
    local small_stack = _VERSION == "Lua 5.1"
    local function nested(depth)
      local t = {}
      local cur = t
      for _ = 1, depth do
        cur.a = {}
        cur = cur.a
      end
      local v, err = json.decode(string.rep("[0,", depth) .. "0" .. string.rep("]", depth), { max_depth = 10000 })
      local text, encode_err = json.encode(t, { max_depth = 10000 })
      return v, err, text, encode_err
    end
    if small_stack then
      local v, err, text, encode_err = nested(9000)
      assert.is_nil(v)
      assert.matches("nesting too deep for the Lua stack", err.message)
      assert.is_nil(text)
      assert.matches("json.encode: nesting too deep for the Lua stack at %$%.a%.a", encode_err.message)
    else
      local v, _, text = nested(3000)
      assert.is_table(v)
      assert.equal(3000 * 6 + 2, #assert(text))
      local deep, _, deep_text, deep_err = nested(9000)
      assert.is_table(deep)
      assert.is_true(deep_text ~= nil and #deep_text == 9000 * 6 + 2
        or deep_err.message:find("nesting too deep for the Lua stack", 1, true) ~= nil)
    end
  end)

  it("reads keys that repeat across sibling objects exactly, escaped or not", function()
    local siblings = '[{"ab":1,"é":2},{"a\\u0062":3,"\\u00e9":4},{"abc":5,"ab\\"":6},{"ab":7},{"é":8,"ab":9}]'
    local expected = { { ab = 1, ["é"] = 2 }, { ab = 3, ["é"] = 4 }, { abc = 5, ['ab"'] = 6 }, { ab = 7 }, { ["é"] = 8, ab = 9 } }
    assert.is_true(values.same(expected, json.decode(siblings)))
    local many = {}
    for i = 1, 600 do
      many[i] = ('{"k%d":%d,"same":%d}'):format(i % 300, i, i)
    end
    local v = json.decode("[" .. table.concat(many, ",") .. "]")
    for i = 1, 600 do
      assert.equal(i, v[i]["k" .. i % 300])
      assert.equal(i, v[i].same)
    end
    local cut, err = json.decode('[{"ab":1},{"ab')
    assert.is_nil(cut)
    assert.matches("unterminated string", err.message)
  end)

  it("decodes and encodes from finalizers that run in the middle of a decode", function()
    -- In an interpreter of its own: whether the collector gets through a cycle during the decode
    -- depends on how much the heap already holds, and the suite's heap is large by now.
    local out, status = require("support.lua").run([=[
      local json = require "essh.json"
      local decoding, nested = false, {}
      local function finalizer()
        nested[#nested + 1] = { during = decoding, text = json.encode(json.decode('{"inner":[1,2]}')) }
      end
      local text = "[" .. ('{"a":1,"b":[1,2,3]},'):rep(50000) .. "{}]"
      collectgarbage("collect")
      collectgarbage("setpause", 100)                     -- the next cycle starts at once
      for _ = 1, 300 do
        if newproxy then
          getmetatable(newproxy(true)).__gc = finalizer
        else
          setmetatable({}, { __gc = finalizer })
        end
      end
      decoding = true
      local v = json.decode(text)
      decoding = false
      assert(#v == 50001 and v[50000].b[3] == 3, "decoded wrong")
      local during = 0
      for _, call in ipairs(nested) do
        assert(call.text == '{"inner":[1,2]}', call.text)
        if call.during then during = during + 1 end
      end
      print("finalizers during the decode: " .. during)
    ]=])
    assert.equal(0, status, out)
    local during = tonumber(out:match("finalizers during the decode: (%d+)"))
    assert.is_true(during ~= nil and during > 0, "no finalizer ran during the decode: " .. out)
  end)

  it("decodes a stream of values with all = true", function()
    local list = json.decode('{"a":1}\n[2]\n3 "x"', { all = true })
    assert.equal(4, #list)
    assert.equal(1, list[1].a)
    assert.equal("x", list[4])
    assert.same({}, json.decode("", { all = true }))
  end)

  it("answers the same with or without an options table (two call paths)", function()
    -- A call with the text alone is answered by the native entry point itself; any other call,
    -- and any failure, by the full function.
    for _, text in ipairs { '{"a":[1,2,{"b":null}]}', "[1,", "12", "\"\\u00e9\"", "[] x", "" } do
      local v1, e1 = json.decode(text)
      local v2, e2 = json.decode(text, {})
      assert.equal(json.encode(v2, { sort_keys = true }), json.encode(v1, { sort_keys = true }))
      assert.equal(e2 and e2.message, e1 and e1.message)
    end
    for _, value in ipairs { { a = { 1, 2 } }, { 0 / 0 }, { print }, "x", json.empty_array } do
      local t1, e1 = json.encode(value)
      local t2, e2 = json.encode(value, {})
      assert.equal(t2, t1)
      assert.equal(e2 and e2.message, e1 and e1.message)
    end
    assert.equal(12, json.decode(12))
    local ok, err = pcall(json.decode)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'json.decode' %(string expected, got nil%)", err)
  end)

  it("returns just the value on success, like io.open", function()
    assert.equal(1, select("#", json.decode("[1]")))
    assert.equal(2, select("#", json.decode("[")))
  end)

  it("raises on a wrong argument type, naming the argument", function()
    assert.has_error(function() json.decode(nil) end, "bad argument #1 to 'json.decode' (string expected, got nil)")
    assert.has_error(function() json.decode("1", "x") end, "bad argument #2 to 'json.decode' (table expected, got string)")
  end)
end)

describe("json.encode", function()
  it("encodes scalars, arrays and objects", function()
    assert.equal('[1,"a",true,null]', json.encode({ 1, "a", true, json.null }))
    assert.equal('{"a":1}', json.encode({ a = 1 }))
    assert.equal('"x"', json.encode("x"))
    assert.equal("null", json.encode(nil))
  end)

  it("writes the shortest number text that reads back exactly", function()
    assert.equal("[0.1,1e+300,-2.5,5e-324]", json.encode({ 0.1, 1e300, -2.5, 5e-324 }))
    assert.equal(0.1 + 0.2, json.decode(json.encode(0.1 + 0.2)))
    if has_integers then
      assert.equal("[3,3.0]", json.encode({ 3, 3.0 }))
    else
      assert.equal("[3,3]", json.encode({ 3, 3.0 }))
    end
  end)

  it("refuses NaN and infinities", function()
    local text, err = json.encode({ x = 0 / 0 })
    assert.is_nil(text)
    assert.equal("json.encode: cannot encode NaN or infinity at $.x", err.message)
    assert.is_nil(json.encode(math.huge))
  end)

  it("detects cycles and names the path", function()
    local t = { list = { {} } }
    t.list[1].back = t
    local text, err = json.encode(t)
    assert.is_nil(text)
    assert.equal("json.encode: cannot encode a table that contains itself at $.list[1].back", err.message)
  end)

  it("names the path of a cycle that closes deep inside a document", function()
    local root = {}
    local node = root
    for _ = 1, 20 do
      node.next = {}
      node = node.next
    end
    node.back = root.next.next
    local _, err = json.encode(root)
    assert.equal("json.encode: cannot encode a table that contains itself at $" .. string.rep(".next", 20) .. ".back",
      err.message)
    local _, shallow = json.encode(root, { max_depth = 6 })
    assert.matches("nesting deeper than 6 levels", shallow.message)
  end)

  it("encodes a table shared twice without calling it a cycle", function()
    local shared = { 1 }
    assert.equal('[[1],[1]]', json.encode({ shared, shared }))
  end)

  it("sorts keys, numbers before strings, and indents on request", function()
    assert.equal('{"a":1,"b":2,"c":3}', json.encode({ c = 3, a = 1, b = 2 }, { sort_keys = true }))
    assert.equal('{\n    "a": [\n        1\n    ]\n}', json.encode({ a = { 1 } }, { indent = 4 }))
    assert.equal('{\n  "a": {}\n}', json.encode({ a = {} }, { indent = true }))
    assert.equal('{"1":"x","b":"y"}', json.encode({ [1] = "x", b = "y" }, { sort_keys = true }))
  end)

  it("follows the documented array rule for sparse and mixed tables", function()
    assert.equal("[1,null,3]", json.encode({ 1, nil, 3 }))
    local sparse = {}
    sparse[1000] = true
    local text, err = json.encode(sparse)
    assert.is_nil(text)
    assert.matches("excessively sparse", err.message)
    assert.equal("[]", json.encode(json.empty_array))
    assert.equal("[]", json.encode(setmetatable({}, json.array_mt)))
    assert.equal("[]", json.encode(setmetatable({}, { __jsontype = "array" })))
    assert.equal('{"1":"x"}', json.encode(setmetatable({ "x" }, { __jsontype = "object" })))
  end)

  it("escapes control characters, quotes and (on request) slashes", function()
    assert.equal('"a\\"b\\\\c\\n\\u0001/"', json.encode('a"b\\c\n\1/'))
    assert.equal('"a\\/b"', json.encode("a/b", { escape_slash = true }))
  end)

  it("writes keys that repeat across objects the same way each time", function()
    local escaped = { ['a"/'] = 1 }
    assert.equal('[{"a\\"\\/":1},{"a\\"\\/":1}]', json.encode({ escaped, escaped }, { escape_slash = true }))
    assert.equal('[{"a\\"/":1},{"a\\"/":1}]', json.encode({ escaped, escaped }))
    -- More distinct keys, and more key text, than the encoder keeps at once.
    local rows, expected = {}, {}
    for i = 1, 3000 do
      local key = ("key %d %s"):format(i % 1500, ("x"):rep(40))
      rows[i] = { [key] = i }
      expected[i] = ('{"%s":%d}'):format(key, i)
    end
    assert.equal("[" .. table.concat(expected, ",") .. "]", json.encode(rows))
  end)

  it("refuses strings that are not UTF-8 and values JSON cannot hold", function()
    assert.matches("not valid UTF%-8", select(2, json.encode("\255")).message)
    assert.matches("cannot encode a function value at %$%[2%]", select(2, json.encode({ 1, print })).message)
    assert.matches("keys must be strings or numbers", select(2, json.encode({ [true] = 1 })).message)
  end)

  it("round-trips null, empty arrays and nested data", function()
    local doc = '{"a":[],"b":{},"c":null,"d":[1,[2,[3]]],"e":"\\u00e9"}'
    assert.equal('{"a":[],"b":{},"c":null,"d":[1,[2,[3]]],"e":"é"}', json.encode(json.decode(doc), { sort_keys = true }))
    assert.is_true(values.same(json.decode(doc), json.decode(json.encode(json.decode(doc)))))
  end)
end)
