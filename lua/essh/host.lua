--- essh.host: host definitions. SSH options are CamelCase and case-insensitive like ssh_config
--- (`HostName` = `Hostname`); metadata is lowercase (`description`, `hidden`, `tags`, `props`).
--- `init = function(host)` runs once, when the host is defined, and may set any field;
--- `connection` names how its work is done ("ssh", the default, or "local": see essh.connection).
local check = require "essh.check"

local M = {}

local native_ssh = require("essh_native").ssh

-- Every ssh_config(5) keyword (the native client's list), by lower-case name; a host carries
-- any of them but Host, Match and Include.
local KEYWORDS, KEYWORD_INFO = {}, {}
for _, k in ipairs(native_ssh.keywords()) do
  if k.name ~= "Host" and k.name ~= "Match" and k.name ~= "Include" then
    KEYWORDS[k.name:lower()] = k.name
    KEYWORD_INFO[k.name] = k
  end
end
M.KEYWORDS = KEYWORDS
M.KEYWORD_INFO = KEYWORD_INFO

--- The metadata fields of a host, beside its ssh options, and what each must hold (see
--- essh.HostSpec in types/essh.lua).
local FIELD_CHECKS = {
  description = check.text, hidden = check.boolean,
  tags = check.list_of(check.name, "names (non-empty, without spaces, control characters or * ? ! #)"),
  props = check.map_of(check.text, check.scalar, "a table of names to strings, numbers or booleans"),
  init = check.func, hooks_before_connect = check.hooks, hooks_after_connect = check.hooks,
  hooks_after_disconnect = check.hooks, hooks_in_tasks = check.boolean,
  override = check.boolean, connection = check.one_of { "ssh", "local" },
  ssh_backend = check.one_of { "native", "openssh" },
}
local FIELDS = {}
for k in pairs(FIELD_CHECKS) do FIELDS[k] = true end

-- essh's first names of the hooks, kept as aliases of essh v3's.
local ALIASES = { before_connect = "hooks_before_connect", after_connect = "hooks_after_connect",
  after_disconnect = "hooks_after_disconnect", Tags = "tags" }

-- An ssh option holds a string, number or boolean; a list of them for keywords that take a list
-- or add on every line. A few have a type of their own; ssh_config's own rules
-- (ssh.check_option) then say which values each keyword takes.
local OPTION_CHECKS = {
  Port = check.port, ConnectTimeout = check.count, ServerAliveInterval = check.count,
  ServerAliveCountMax = check.count, ConnectionAttempts = check.count, NumberOfPasswordPrompts = check.count,
}
local LIST_OPTION = check.one_or_list(check.scalar, "a string, number or boolean (strings without control characters)")

local function check_option_value(where, what, key, value)
  check.field(where, what, key, check.scalar, value)
end

local function check_option(where, what, canonical, value)
  local info = KEYWORD_INFO[canonical]
  local expected = OPTION_CHECKS[canonical] or ((info.list or info.adds) and LIST_OPTION or check.scalar)
  check.field(where, what, canonical, expected, value)
  local problem = native_ssh.check_option(canonical, value)
  if problem then error(("%s: %s: %s"):format(where, what, problem), 0) end
end

--- Raises the config error of a host field `key` (an ssh option or a metadata field) that
--- does not hold what it must; `what` names the host ("host web1") and `where` its file:line.
--- Returns the field's canonical name and whether it is an ssh option; nil for an unknown key.
function M.check_field(where, what, key, value)
  if type(key) ~= "string" then
    error(("%s: %s: unexpected %s key in its definition"):format(where, what, type(key)), 0)
  end
  local canonical = M.keyword(key)
  if canonical then
    if value ~= nil then check_option(where, what, canonical, value) end
    return canonical, true
  end
  key = ALIASES[key] or key
  if FIELDS[key] then
    if value ~= nil then check.field(where, what, key, FIELD_CHECKS[key], value) end
    return key, false
  end
  if key:match("^%u") then
    -- Not a keyword of ssh_config(5): kept for OpenSSH tools, as ssh_config keeps it, when the
    -- host's IgnoreUnknown lists it (checked once the config has run: M.check_unknown).
    if value ~= nil then check_option_value(where, what, key, value) end
    return key, true, true
  end
  error(("%s: %s: unknown field '%s'"):format(where, what, key), 0)
end

M.FIELDS = FIELDS

local Host = {}

--- The canonical name of an ssh option, or nil.
function M.keyword(key)
  return type(key) == "string" and KEYWORDS[key:lower()] or nil
end

Host.__index = function(self, key)
  local raw = rawget(self, "_fields")
  key = ALIASES[key] or key
  local canonical = M.keyword(key)
  if canonical then return rawget(self, "config")[canonical] end
  if key == "name" then return rawget(self, "_name") end
  if raw[key] ~= nil then return raw[key] end
  if Host[key] ~= nil then return Host[key] end
  -- An ssh option that is not a keyword of ssh_config(5), kept under IgnoreUnknown.
  if type(key) == "string" and key:match("^%u") then return rawget(self, "config")[key] end
end

--- Sets field `key` of `host` (an ssh option or a metadata field), checked, as set at `at`.
function M.set(self, key, value, at)
  local canonical, is_option, unknown = M.check_field(at, "host " .. rawget(self, "_name"), key, value)
  if is_option then
    rawget(self, "config")[canonical] = value
    if unknown then rawget(self, "_unknown")[canonical] = at end
  elseif canonical == "tags" then
    rawget(self, "_fields").tags = value or {}
    local registry = rawget(self, "_registry")
    if registry then registry:tags_changed() end
  else
    rawget(self, "_fields")[canonical] = value
  end
end

Host.__newindex = function(self, key, value)
  local info = debug.getinfo(2, "Sl")
  M.set(self, key, value, info and (info.short_src .. ":" .. (info.currentline or 0)) or "?")
end

Host.__tostring = function(self) return "host " .. rawget(self, "_name") end

--- Whether the host has `tag`.
function Host:has_tag(tag)
  for _, t in ipairs(rawget(self, "_fields").tags or {}) do
    if t == tag then return true end
  end
  return false
end

--- Whether `target` names this host or one of its tags.
function Host:matches(target)
  return rawget(self, "_name") == target or self:has_tag(target)
end

local quoted = native_ssh.quote

-- One line per item of a list (one line of quoted items for keywords that list on one line);
-- a value of a keyword with several arguments, or a command, is written as it is.
local function config_lines(keyword, value, out)
  local info = KEYWORD_INFO[keyword] or {}
  if type(value) == "table" then
    if info.list and not info.adds then
      local items = {}
      for i, v in ipairs(value) do items[i] = quoted(tostring(v)) end
      out[#out + 1] = "    " .. keyword .. " " .. table.concat(items, " ")
      return
    end
    for _, v in ipairs(value) do config_lines(keyword, v, out) end
    return
  end
  local text = type(value) == "boolean" and (value and "yes" or "no") or tostring(value)
  assert(not text:find("%c"), "a control character in an ssh option (checked when defined)")
  if not info.list and not info.whole_line then text = quoted(text) end
  out[#out + 1] = "    " .. keyword .. " " .. text
end

--- This host as an ssh_config block (`Host name` and its ssh options, sorted), so OpenSSH
--- tools can use it.
function Host:ssh_config()
  local c = rawget(self, "config")
  local keys = {}
  for k in pairs(c) do keys[#keys + 1] = k end
  -- IgnoreUnknown first: OpenSSH reads it before the keywords it lets through.
  table.sort(keys, function(a, b)
    if (a == "IgnoreUnknown") ~= (b == "IgnoreUnknown") then return a == "IgnoreUnknown" end
    return a < b
  end)
  local out = { "Host " .. rawget(self, "_name") }
  for _, k in ipairs(keys) do config_lines(k, c[k], out) end
  return table.concat(out, "\n") .. "\n"
end

--- Applies definition fields to a host (its definition, or a later `host "x" {...}` call).
function M.apply(self, spec)
  local name, where = rawget(self, "_name"), rawget(self, "_where")
  local fields = rawget(self, "_fields")
  if type(spec) ~= "table" then error(("%s: host %s: expected a table of fields"):format(where, name), 0) end
  for key, value in pairs(spec) do
    local canonical, is_option, unknown = M.check_field(where, "host " .. name, key, value)
    if is_option then
      rawget(self, "config")[canonical] = value
      if unknown then rawget(self, "_unknown")[canonical] = where end
    else
      fields[canonical] = value
    end
  end
  fields.tags = fields.tags or {}
  local registry = rawget(self, "_registry")
  if registry then
    registry:check_tags(self, where)
    registry:index_tags(self)
  end
  local init = spec.init
  if init ~= nil then
    if type(init) ~= "function" then error(("%s: host %s: init must be a function"):format(where, name), 0) end
    local ok, err = pcall(init, self)
    if not ok then error(("%s: host %s: init failed: %s"):format(where, name, tostring(err)), 0) end
  end
  return self
end

Host.__call = M.apply

--- A host called `name`, defined at `where` ("file:line", for errors), with `spec` applied.
function M.new(name, spec, where)
  if type(name) ~= "string" or name == "" then
    error(("%s: host: a name (a non-empty string) is required, got %s"):format(where or "?", check.got(name)), 0)
  end
  check.field(where or "?", "host " .. check.got(name), "its name", check.name, name)
  local self = setmetatable({ _name = name, _where = where, config = {}, _unknown = {},
    _fields = { tags = {}, props = {} } }, Host)
  if spec then M.apply(self, spec) end
  return self
end

-- Whether `keyword` matches one of the comma-separated patterns (* and ?), ignoring case, as
-- OpenSSH matches IgnoreUnknown.
local function listed(keyword, patterns)
  for pattern in tostring(patterns):gmatch("[^,%s]+") do
    local lua_pattern = "^" .. pattern:lower():gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
    if keyword:lower():match(lua_pattern) then return true end
  end
  return false
end

--- Raises the config error of an ssh option that is not a keyword of ssh_config(5), unless the
--- host's IgnoreUnknown lists it (then it is kept for OpenSSH tools, and the native client
--- ignores it as ssh does).
function M.check_unknown(self)
  local ignored = rawget(self, "config").IgnoreUnknown
  for key, where in pairs(rawget(self, "_unknown")) do
    if rawget(self, "config")[key] ~= nil and not (ignored and listed(key, ignored)) then
      error(("%s: host %s: unknown ssh option '%s' (not a keyword of ssh_config(5); list it in IgnoreUnknown "
        .. "to keep it for OpenSSH tools)"):format(where, rawget(self, "_name"), key), 0)
    end
  end
end

--- Whether `v` is a host.
function M.is(v)
  return getmetatable(v) == Host
end

return M
