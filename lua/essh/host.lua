--- essh.host: host definitions. SSH options are CamelCase and case-insensitive like ssh_config
--- (`HostName` = `Hostname`); metadata is lowercase (`description`, `hidden`, `tags`, `props`).
--- `init = function(host)` runs once, when the host is defined, and may set any field;
--- `connection` names how its work is done ("ssh", the default, or "local": see essh.connection).
local M = {}

-- The ssh_config keywords a host may carry, by lower-case name.
local KEYWORDS = {}
for _, k in ipairs({
  "AddKeysToAgent", "AddressFamily", "BatchMode", "BindAddress", "CertificateFile", "CheckHostIP", "Ciphers",
  "Compression", "ConnectionAttempts", "ConnectTimeout", "ControlMaster", "ControlPath", "ControlPersist",
  "ForwardAgent", "GlobalKnownHostsFile", "HashKnownHosts", "HostKeyAlgorithms", "HostKeyAlias", "HostName",
  "IdentitiesOnly", "IdentityAgent", "IdentityFile", "IPQoS", "KbdInteractiveAuthentication", "KexAlgorithms",
  "LocalForward", "LogLevel", "MACs", "NumberOfPasswordPrompts", "PasswordAuthentication", "Port",
  "PreferredAuthentications", "ProxyCommand", "ProxyJump", "PubkeyAuthentication", "RemoteForward", "RequestTTY",
  "SendEnv", "ServerAliveCountMax", "ServerAliveInterval", "SetEnv", "StrictHostKeyChecking", "TCPKeepAlive",
  "UpdateHostKeys", "User", "UserKnownHostsFile", "VerifyHostKeyDNS",
}) do
  KEYWORDS[k:lower()] = k
end
M.KEYWORDS = KEYWORDS

--- The metadata fields of a host, beside its ssh options (see essh.HostSpec in types/essh.lua).
local FIELDS = {
  description = true, hidden = true, tags = true, props = true, init = true, before_connect = true,
  after_connect = true, after_disconnect = true, override = true, connection = true,
}

M.FIELDS = FIELDS

local Host = {}

--- The canonical name of an ssh option, or nil.
function M.keyword(key)
  return type(key) == "string" and KEYWORDS[key:lower()] or nil
end

Host.__index = function(self, key)
  local raw = rawget(self, "_fields")
  if key == "Tags" then return raw.tags end
  local canonical = M.keyword(key)
  if canonical then return rawget(self, "config")[canonical] end
  if key == "name" then return rawget(self, "_name") end
  if raw[key] ~= nil then return raw[key] end
  return Host[key]
end

Host.__newindex = function(self, key, value)
  local canonical = M.keyword(key)
  if canonical then
    rawget(self, "config")[canonical] = value
  elseif key == "Tags" or key == "tags" then
    rawget(self, "_fields").tags = value or {}
  elseif FIELDS[key] then
    rawget(self, "_fields")[key] = value
  else
    error(("host %s: unknown field '%s'"):format(rawget(self, "_name"), tostring(key)), 2)
  end
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

-- ssh_config quotes a value with spaces; a list is one line per item.
local function config_lines(keyword, value, out)
  if type(value) == "table" then
    for _, v in ipairs(value) do config_lines(keyword, v, out) end
    return
  end
  local text = tostring(value)
  if text:find("[%s\"]") then text = '"' .. text:gsub('"', '\\"') .. '"' end
  out[#out + 1] = "    " .. keyword .. " " .. text
end

--- This host as an ssh_config block (`Host name` and its ssh options, sorted), so OpenSSH
--- tools can use it.
function Host:ssh_config()
  local c = rawget(self, "config")
  local keys = {}
  for k in pairs(c) do keys[#keys + 1] = k end
  table.sort(keys)
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
    if type(key) ~= "string" then
      error(("%s: host %s: unexpected %s key in its definition"):format(where, name, type(key)), 0)
    end
    local canonical = M.keyword(key)
    if canonical then
      rawget(self, "config")[canonical] = value
    elseif key == "Tags" or key == "tags" then
      fields.tags = value
    elseif FIELDS[key] then
      fields[key] = value
    elseif key:match("^%u") then
      error(("%s: host %s: unknown ssh option '%s'"):format(where, name, key), 0)
    else
      error(("%s: host %s: unknown field '%s'"):format(where, name, key), 0)
    end
  end
  if type(fields.tags) ~= "table" then
    error(("%s: host %s: tags must be a list of strings"):format(where, name), 0)
  end
  local conflict = rawget(self, "_conflict")
  local registry = rawget(self, "_registry")
  if conflict then
    if not spec.override then error(conflict, 0) end
    rawset(self, "_conflict", nil)
    registry:add("host", name, self, where, true)
  elseif registry then
    registry:check_tags(self, where)
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
  if type(name) ~= "string" or name == "" then error("host: a name (a non-empty string) is required", 3) end
  local self = setmetatable({ _name = name, _where = where, config = {}, _fields = { tags = {}, props = {} } }, Host)
  if spec then M.apply(self, spec) end
  return self
end

--- Whether `v` is a host.
function M.is(v)
  return getmetatable(v) == Host
end

return M
