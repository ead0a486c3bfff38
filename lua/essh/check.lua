--- essh.check: what the fields of DSL definitions must hold. Each check is a function of a
--- value that returns true, or false and what was expected; `M.field` turns a failed check into
--- the config error `file:line: host web1: Port must be ..., got ...`.
local M = {}

--- "file:line" of the code `level` frames above the caller, for config errors.
function M.caller(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info then return "?" end
  local source = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
  return source .. ":" .. (info.currentline or 0)
end

--- How a value reads in an error message.
function M.got(v)
  local t = type(v)
  if t == "string" then
    local shown = #v > 40 and v:sub(1, 40) .. "..." or v
    return (("%q"):format(shown):gsub("\\\n", "\\n"))
  end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  return "a " .. t
end

--- Raises the config error of `what` (e.g. "host web1") at `where` when `check(value)` fails.
function M.field(where, what, name, check, value)
  local ok, expected = check(value)
  if not ok then
    error(("%s: %s: %s must be %s, got %s"):format(where, what, name, expected, M.got(value)), 0)
  end
end

local function is_text(v) return type(v) == "string" and not v:find("%c") end

--- A string without control characters (a newline would change the structure of the
--- ssh_config, scripts and listings it is written into).
function M.text(v)
  if is_text(v) then return true end
  return false, "a string without control characters"
end

--- A name: a non-empty string of printable characters without spaces, and none of the
--- characters ssh_config reads as patterns or comments (`* ? ! #`).
function M.name(v)
  if is_text(v) and v ~= "" and not v:find("[%s%*%?!#]") then return true end
  return false, "a non-empty string without spaces, control characters or * ? ! #"
end

function M.boolean(v)
  if type(v) == "boolean" then return true end
  return false, "true or false"
end

function M.func(v)
  if type(v) == "function" then return true end
  return false, "a function"
end

--- A hook: a command (a string) or a function.
function M.hook(v)
  if is_text(v) or type(v) == "function" then return true end
  return false, "a command (a string without control characters) or a function"
end

--- Hooks: a hook or a list of hooks (essh v3's `hooks_before_connect = { "echo a", fn }`).
function M.hooks(v)
  if M.hook(v) then return true end
  if type(v) == "table" then
    local ok = M.list_of(M.hook, "")(v)
    if ok then return true end
  end
  return false, "a command (a string without control characters), a function, or a list of them"
end

--- A string, number or boolean (strings without control characters).
function M.scalar(v)
  local t = type(v)
  if is_text(v) or t == "number" or t == "boolean" then return true end
  return false, "a string, number or boolean (strings without control characters)"
end

-- A table whose keys are exactly 1..n (no holes: `{nil, 1}` is not a list).
local function is_list(v)
  if type(v) ~= "table" then return false end
  local count = 0
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 then return false end
    count = count + 1
  end
  for i = 1, count do
    if v[i] == nil then return false end
  end
  return true
end

--- A list whose every item passes `item` (what each must be: `what`).
function M.list_of(item, what)
  return function(v)
    if not is_list(v) then return false, "a list of " .. what end
    for _, x in ipairs(v) do
      if not item(x) then return false, "a list of " .. what end
    end
    return true
  end
end

--- One value that passes `item`, or a list of them.
function M.one_or_list(item, what)
  local list = M.list_of(item, what)
  return function(v)
    if item(v) then return true end
    if type(v) == "table" and list(v) then return true end
    return false, what .. " or a list of them"
  end
end

--- A table whose keys pass `key` and values pass `value`.
function M.map_of(key, value, what)
  return function(v)
    if type(v) ~= "table" then return false, what end
    for k, x in pairs(v) do
      if not key(k) or not value(x) then return false, what end
    end
    return true
  end
end

-- An integer given as a number or as a string of digits, between `low` and `high`.
local function integer_in(low, high, what)
  return function(v)
    local n = type(v) == "number" and v or (type(v) == "string" and v:match("^%d+$") and tonumber(v))
    if n and n % 1 == 0 and n >= low and n <= high then return true end
    return false, what
  end
end

M.port = integer_in(1, 65535, "an integer from 1 to 65535")
M.count = integer_in(0, 2 ^ 31, "a whole number (0 or more)")

--- A number above zero.
function M.positive(v)
  if type(v) == "number" and v > 0 and v == v and v ~= math.huge then return true end
  return false, "a number above 0"
end

--- One of the strings `choices` (a list).
function M.one_of(choices)
  local set, shown = {}, {}
  for i, c in ipairs(choices) do set[c], shown[i] = true, ("%q"):format(c) end
  return function(v)
    if set[v] then return true end
    return false, "one of " .. table.concat(shown, ", ")
  end
end

--- Passes when any of `checks` does.
function M.either(what, ...)
  local checks = { ... }
  return function(v)
    for _, c in ipairs(checks) do
      if c(v) then return true end
    end
    return false, what
  end
end

return M
