--- essh.inspect: a readable dump of any value, with sorted keys and visible cycles, like
--- inspect.lua: `inspect(value [, {depth = n, indent = "  ", newline = "\n"}])`.
--- Secrets (essh.secret) print as ******.
local secret = require "essh.secret"

local M = {}

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not ({
    ["and"] = 1, ["break"] = 1, ["do"] = 1, ["else"] = 1, ["elseif"] = 1, ["end"] = 1, ["false"] = 1,
    ["for"] = 1, ["function"] = 1, ["goto"] = 1, ["if"] = 1, ["in"] = 1, ["local"] = 1, ["nil"] = 1,
    ["not"] = 1, ["or"] = 1, ["repeat"] = 1, ["return"] = 1, ["then"] = 1, ["true"] = 1, ["until"] = 1,
    ["while"] = 1,
  })[s]
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
    return named[c] or ("\\%d"):format(c:byte())
  end) .. '"'
end

local type_order = { number = 1, boolean = 2, string = 3, table = 4, ["function"] = 5, userdata = 6, thread = 7 }

local function sort_keys(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  if ta == tb then return tostring(a) < tostring(b) end
  return (type_order[ta] or 9) < (type_order[tb] or 9)
end

local function render(value, options)
  local depth_limit = options.depth or math.huge
  local indent = options.indent or "  "
  local newline = options.newline or "\n"
  local ids, counts = {}, {}
  local next_id = 0

  -- First pass: which tables appear more than once (cycles and shared tables get an id).
  local function count(v)
    if type(v) ~= "table" or secret.is(v) then return end
    counts[v] = (counts[v] or 0) + 1
    if counts[v] > 1 then return end
    for k, x in pairs(v) do
      count(k)
      count(x)
    end
  end
  count(value)

  local out = {}
  local function put(s) out[#out + 1] = s end

  local function walk(v, level)
    local t = type(v)
    if secret.is(v) then return put(secret.MASK) end
    if t == "string" then return put(quote(v)) end
    if t == "number" or t == "boolean" or t == "nil" then return put(tostring(v)) end
    if t ~= "table" then return put("<" .. tostring(v) .. ">") end
    if ids[v] then return put("<" .. ids[v] .. ">") end
    if counts[v] and counts[v] > 1 then
      next_id = next_id + 1
      ids[v] = next_id
      put("<" .. next_id .. ">")
    end
    if level >= depth_limit then return put("{...}") end
    local n = #v
    local keys = {}
    for k in pairs(v) do
      if not (type(k) == "number" and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
    end
    table.sort(keys, sort_keys)
    local mt = getmetatable(v)
    if n == 0 and #keys == 0 and type(mt) ~= "table" then return put("{}") end
    put("{")
    local pad = newline .. indent:rep(level + 1)
    local first = true
    local function sep()
      put(first and (#keys > 0 and pad or " ") or ("," .. (#keys > 0 and pad or " ")))
      first = false
    end
    for i = 1, n do
      sep()
      walk(v[i], level + 1)
    end
    for _, k in ipairs(keys) do
      sep()
      if is_identifier(k) then put(k) else put("[") walk(k, level + 1) put("]") end
      put(" = ")
      walk(v[k], level + 1)
    end
    if type(mt) == "table" then
      sep()
      put("<metatable> = ")
      walk(mt, level + 1)
    end
    put(#keys > 0 and (newline .. indent:rep(level) .. "}") or " }")
  end
  walk(value, 0)
  return table.concat(out)
end

--- A readable dump of `value`.
---@param value any
---@param options {depth: integer?, indent: string?, newline: string?}?
---@return string
function M.inspect(value, options)
  return render(value, options or {})
end

return setmetatable(M, { __call = function(_, value, options) return render(value, options or {}) end })
