--- essh.permissions: what configs and tasks may do, in Deno's terms: `read` and `write` (path
--- prefixes and globs), `net` (host or host:port patterns), `ssh` (hosts, tags or patterns of
--- the inventory), `run` (programs), `env` (variable names), `storage`, `db`.
---
--- Grants are tables: `{ net = { "api.example.com" }, write = { "./build" }, run = true }`, or
--- `{ all = true }`. A task's `permissions` give it exactly those; `essh.permissions { ... }`
--- in a config limits everything the config does after it; the command line's `--allow-*`
--- and `--deny-*` limit the whole run. Limits only add up: nothing widens them.
local native = require("essh_native").permissions
local runtime = require("essh_native").runtime

local M = {}

--- The permissions a grant may name.
M.names = {}
for i, name in ipairs(native.names) do M.names[i] = name end

local KNOWN = {}
for _, name in ipairs(M.names) do KNOWN[name] = true end

-- The key of essh's command, which opens the audit log. Loaded again (a test clearing
-- package.loaded), the module goes without it.
local key do
  local ok, claimed = pcall(native.claim)
  key = ok and claimed or nil
end

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local function list_of(value)
  if type(value) == "string" then return { value } end
  return value
end

--- Checks the grants of a `permissions` table (`where` names it in errors); returns the
--- table of native allow entries, or raises naming the bad entry.
local function allow_entries(grants, where)
  if type(grants) ~= "table" then
    error(("%s: expected a table of permissions, got %s"):format(where, type(grants)), 0)
  end
  local allow = {}
  for name, value in pairs(grants) do
    if name == "all" then
      if value ~= true then error(("%s: all must be true"):format(where), 0) end
      for _, n in ipairs(M.names) do allow[n] = true end
    elseif type(name) ~= "string" or not KNOWN[name] then
      error(("%s: unknown permission '%s' (known: %s, all)"):format(where, tostring(name), table.concat(M.names, ", ")), 0)
    elseif value == true or value == false then
      if allow[name] ~= true then allow[name] = value end
    elseif type(value) == "string" or type(value) == "table" then
      local patterns = list_of(value)
      for i, p in ipairs(patterns) do
        if type(p) ~= "string" then
          error(("%s: %s[%d]: expected a pattern (a string), got %s"):format(where, name, i, type(p)), 0)
        end
      end
      if allow[name] ~= true then allow[name] = patterns end
    else
      error(("%s: %s: expected true, false, a pattern or a list of patterns, got %s"):format(where, name,
        type(value)), 0)
    end
  end
  return allow
end

M.check_grants = function(grants, where) allow_entries(grants, where) end

-- The ssh patterns with the inventory's hosts they name (by name, tag or a pattern over names)
-- added with their addresses, which the connections check.
local function expand_ssh(patterns, registry)
  if type(patterns) ~= "table" or not registry then return patterns end
  local out, seen = {}, {}
  local function add(p) if not seen[p] then seen[p] = true; out[#out + 1] = p end end
  local query = require "essh.query"
  for _, p in ipairs(patterns) do
    add(p)
    local ok, hosts = pcall(function() return query.new(registry, p):list() end)
    if ok then
      for _, h in ipairs(hosts) do
        add(h.name)
        local address = h.HostName or h.Hostname
        if address then add(tostring(address)) end
      end
    end
  end
  return out
end

--- The native policy of a grants table: `name` says whose it is, `base` is the directory
--- relative paths are read from, `registry` the inventory ssh grants name.
function M.policy(grants, name, options)
  options = options or {}
  local allow = allow_entries(grants, name)
  if allow.ssh then allow.ssh = expand_ssh(allow.ssh, options.registry) end
  return native.policy { name = name, allow = allow, base = options.base, hint = options.hint }
end

--- A policy that allows everything: a scope's labels without limits.
function M.open(name)
  return native.policy { name = name or "essh", default = "allow" }
end

--- The command line's policy: `allow` and `deny` map permissions to true or patterns;
--- with any allow, only what it names is allowed (as Deno's flags).
function M.command_line(allow, deny)
  local spec = { name = "the command line", default = next(allow) and "deny" or "allow", allow = allow, deny = deny }
  return native.policy(spec)
end

--- Limits everything this Lua state does from now on to `policy` (a native policy).
function M.restrict(policy) native.restrict(policy) end

-- ssh grants of limits waiting for the inventory they name (hosts defined after the limit).
local pending = {}

--- Limits everything this Lua state does from now on to `grants` (`name` says whose they are,
--- relative paths are read from `base`). An ssh grant of hosts or tags applies once the
--- inventory is complete (`apply_pending`), before any task runs.
function M.limit(grants, name, base)
  local allow = allow_entries(grants, name)
  if type(allow.ssh) == "table" then
    pending[#pending + 1] = { ssh = allow.ssh, name = name }
    allow.ssh = true
  end
  native.restrict(native.policy { name = name, allow = allow, base = base })
end

--- Applies the ssh grants of the limits set so far, with the hosts of `registry`.
function M.apply_pending(registry)
  local waiting = pending
  pending = {}
  for _, p in ipairs(waiting) do
    native.restrict(native.policy { name = p.name, default = "allow", allow = { ssh = expand_ssh(p.ssh, registry) } })
  end
end

--- Runs fn(...) inside `policy` (labelled `labels`: {task, host}); returns the scope's layer
--- (its denials) and fn's results; errors pass through once the scope is left.
function M.within(policy, labels, fn, ...)
  local layer, saved = native.enter(policy, labels)
  local r = pack(runtime.pcall(fn, ...))
  native.leave(saved)
  if not r[1] then error(r[2], 0) end
  return layer, unpack(r, 2, r.n)
end

--- Runs fn(...) as essh itself (the run history): no policy limits it. A Lua state that gave
--- the command's key away runs fn as any code.
function M.as_essh(fn, ...)
  if not key then return fn(...) end
  local saved = key:own()
  local r = pack(runtime.pcall(fn, ...))
  native.leave(saved)
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, r.n)
end

--- Enters `policy` in the running task until `leave(saved)`: for work whose end is elsewhere.
M.enter, M.leave = native.enter, native.leave

--- Deno's `permissions.query`: `{ state = "granted" | "denied", partial = boolean }` for a
--- permission (and a resource; without one, partial says some resources are granted).
function M.query(name, resource)
  if type(name) == "table" then name, resource = name.name, name.resource or name.path or name.host end
  local state, partial = native.query(name, resource)
  return { state = state, partial = partial }
end

--- Asks for `permission` on `resource` for `action`, as native functions do: true, or nil
--- and a permission_denied error.
M.check = native.check

--- Whether any policy in force limits anything.
M.restricted = native.restricted

--- The policies in force: { {name, grants} }.
M.describe = native.describe

--- The command's key, which essh has claimed: calling it again raises.
M.claim = native.claim

--- Writes every permission decision, one JSON line each, to the file at `path`: once, and
--- before any policy limits anything.
function M.audit(path)
  if not key then return nil, "the audit log needs the key of essh's command, which this Lua state gave away" end
  return key:audit(path)
end

-- `essh.permissions { ... }`: the limit of the config (or script) that calls it.
setmetatable(M, { __call = function(_, grants)
  local info = debug.getinfo(2, "Sl") or {}
  local source = info.source and info.source:sub(1, 1) == "@" and info.source:sub(2) or nil
  local where = ("essh.permissions at %s:%d"):format(source or info.short_src or "?", info.currentline or 0)
  M.limit(grants, where, source and (source:match("^(.*)/[^/]*$") or "."))
end })

return M
