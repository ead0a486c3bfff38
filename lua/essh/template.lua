--- essh.template: text templates compiled to Lua functions.
---
---   {{ expr }}                  the value of a Lua expression over the variables
---   {{ expr | shell }}          filters: shell (POSIX quoting), json, html, default(x), upper,
---                               lower, trim; chain them: {{ name | default("x") | shell }}
---   {% if cond %} {% elseif cond %} {% else %} {% end %}     ({% endif %} also closes)
---   {% for x in list %} {% end %}  over a list; {% for k, v in pairs(t) %} also works
---   {# comment #}
---
--- `render(text, vars)`, `render_file(path, vars)`, `compile(text [, name])` returning a
--- function(vars). Errors name the template and its line. Compiled templates are cached.
---
--- essh v3's `template.dostring(text, data)` and `template.dofile(path, data)` take Go
--- text/template (essh.gotemplate) and return the text, or nil and an error message.
local json = require("essh_native").json
local secret = require "essh.secret"

local check_permission = require("essh_native").permissions.check

local M = {}

local load, setfenv = rawget(_G, "loadstring") or load, rawget(_G, "setfenv")

local html_escapes = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

M.filters = {
  shell = require("essh.shell").quote,
  json = function(v) return assert(json.encode(secret.reveal(v))) end,
  html = function(v) return (tostring(v):gsub("[&<>\"']", html_escapes)) end,
  default = function(v, d)
    if v == nil or v == "" then return d end
    return v
  end,
  upper = function(v) return tostring(v):upper() end,
  lower = function(v) return tostring(v):lower() end,
  trim = function(v) return (tostring(v):gsub("^%s+", ""):gsub("%s+$", "")) end,
}

local function lua_string(s)
  return ("%q"):format(s):gsub("\\\n", "\\n")
end

-- Splits `expr | f | g(args)` into the expression and its filters, outside of strings and brackets.
local function split_filters(expr)
  local parts, depth, quote, start = {}, 0, nil, 1
  local i = 1
  while i <= #expr do
    local c = expr:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == '"' or c == "'" then
      quote = c
    elseif c == "(" or c == "{" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == "}" or c == "]" then
      depth = depth - 1
    elseif c == "|" and depth == 0 and expr:sub(i + 1, i + 1) ~= "|" then
      parts[#parts + 1] = expr:sub(start, i - 1)
      start = i + 1
    end
    i = i + 1
  end
  parts[#parts + 1] = expr:sub(start)
  return parts
end

local function filtered(expr, line, name)
  local parts = split_filters(expr)
  local code = "(" .. parts[1] .. ")"
  for i = 2, #parts do
    local f = parts[i]:match("^%s*(.-)%s*$")
    local fname, args = f:match("^([%a_][%w_]*)%s*%((.*)%)$")
    fname = fname or f
    if not fname:match("^[%a_][%w_]*$") then
      error(("%s:%d: bad filter '%s'"):format(name, line, f), 0)
    end
    code = ("__filter(%q, %d)(%s%s)"):format(fname, line, code, args and args ~= "" and (", " .. args) or "")
  end
  return code
end

-- Translates a template to Lua source whose line numbers are the template's.
local function translate(text, name)
  local code = { "local __out, __n, __filter, __tostring = {}, 0, ... " }
  local line = 1
  local blocks = {}
  local pos = 1
  local function emit(s) code[#code + 1] = s end
  local function newlines(s)
    local _, n = s:gsub("\n", "")
    line = line + n
    return ("\n"):rep(n)
  end
  while pos <= #text do
    local s, e, kind = text:find("{([{%%#])", pos)
    if not s then
      emit("__n = __n + 1; __out[__n] = " .. lua_string(text:sub(pos)) .. " ")
      emit(newlines(text:sub(pos)))
      break
    end
    if s > pos then
      local chunk = text:sub(pos, s - 1)
      emit("__n = __n + 1; __out[__n] = " .. lua_string(chunk) .. " ")
      emit(newlines(chunk))
    end
    local close = ({ ["{"] = "}}", ["%"] = "%}", ["#"] = "#}" })[kind]
    local cs = text:find(close, e + 1, true)
    if not cs then error(("%s:%d: unclosed {%s"):format(name, line, kind), 0) end
    local inner = text:sub(e + 1, cs - 1)
    local body = inner:match("^%s*(.-)%s*$")
    local at = line
    if kind == "{" then
      emit(("__n = __n + 1; __out[__n] = __tostring(%s) "):format(filtered(body, at, name)))
    elseif kind == "%" then
      local word, rest = body:match("^(%a+)%s*(.-)$")
      if word == "if" then
        blocks[#blocks + 1] = { "if", at }
        emit("if " .. rest .. " then ")
      elseif word == "elseif" then
        emit(" elseif " .. rest .. " then ")
      elseif word == "else" then
        emit(" else ")
      elseif word == "for" then
        blocks[#blocks + 1] = { "for", at }
        local vars, list = rest:match("^(.-)%s+in%s+(.+)$")
        if not vars then error(("%s:%d: expected {%% for x in list %%}"):format(name, at), 0) end
        if list:match("^%s*[%a_][%w_]*%s*%(") then
          emit(("for %s in %s do "):format(vars, list))
        else
          emit(("for _, %s in ipairs(%s) do "):format(vars, list))
        end
      elseif word == "end" or word == "endif" or word == "endfor" then
        if #blocks == 0 then error(("%s:%d: {%% %s %%} without an open block"):format(name, at, word), 0) end
        blocks[#blocks] = nil
        emit(" end ")
      else
        error(("%s:%d: unknown tag {%% %s %%}"):format(name, at, body), 0)
      end
    end
    emit(newlines(inner))
    pos = cs + 2
  end
  if #blocks > 0 then
    local b = blocks[#blocks]
    error(("%s:%d: {%% %s %%} is never closed"):format(name, b[2], b[1]), 0)
  end
  emit("\nreturn table.concat(__out, '', 1, __n)")
  return table.concat(code)
end

local function to_text(v)
  if v == nil then return "" end
  if secret.is(v) then return tostring(secret.reveal(v)) end
  return tostring(v)
end

local cache = setmetatable({}, { __mode = "v" })

--- Compiles `text` to a function(vars) returning the rendered string. `name` appears in errors.
---@param text string
---@param name string?
---@return fun(vars: table?): string
function M.compile(text, name)
  name = name or "template"
  local key = name .. "\0" .. text
  local cached = cache[key]
  if cached then return cached end
  local source = translate(text, name)
  local chunk, err
  local env_holder = {}
  local env = setmetatable({}, { __index = function(_, k) return env_holder.vars[k] end })
  if setfenv then
    chunk, err = load(source, "=" .. name)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = load(source, "=" .. name, "t", env)
  end
  if not chunk then error(err, 0) end
  local function filter(fname, line)
    local f = M.filters[fname]
    if not f then error(("%s:%d: unknown filter '%s'"):format(name, line, fname), 0) end
    return f
  end
  local base = { ipairs = ipairs, pairs = pairs, tostring = tostring, tonumber = tonumber, type = type,
    string = string, table = table, math = math, os = { date = os.date, time = os.time } }
  local function render(vars)
    env_holder.vars = setmetatable({}, { __index = function(_, k)
      local v = vars and vars[k]
      if v == nil then v = base[k] end
      return v
    end })
    return chunk(filter, to_text)
  end
  cache[key] = render
  return render
end

--- Renders `text` with `vars`.
function M.render(text, vars, name)
  return M.compile(text, name)(vars)
end

--- Renders the template file at `path` with `vars`; errors name the file.
function M.render_file(path, vars)
  local allowed, denied = check_permission("read", path, "template.render_file")
  if not allowed then error(denied, 2) end
  local f, err = io.open(path, "rb")
  if not f then error(err, 2) end
  local text = f:read("*a")
  f:close()
  return M.compile(text, path)(vars)
end

local gotemplate = require("essh_native").gotemplate

--- essh v3's template.dostring: Go text/template `text` executed with `data`; the text, or
--- nil and the error's message.
function M.dostring(text, data)
  local out, err = gotemplate.render(text, data)
  if not out then return nil, err.message end
  return out
end

--- essh v3's template.dofile: the Go text/template in the file at `path`, with `data`.
function M.dofile(path, data)
  local allowed, denied = check_permission("read", path, "template.dofile")
  if not allowed then return nil, denied end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  local out, render_err = gotemplate.render(text, data, { name = path:match("[^/]+$") })
  if not out then return nil, render_err.message end
  return out
end

return M
