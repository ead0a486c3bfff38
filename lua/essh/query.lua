--- essh.query: host queries. `select{"web", "db"}` keeps the hosts named so or tagged so (any
--- of them); `:filter("production")` keeps those matching every filter; `:visible()` drops
--- hidden hosts, `:hidden()` keeps only them. `:list()` (also `:get()`, as essh v3's
--- select_hosts had it), `:first()`, `:each(fn)`, `:names()` read the result, in definition
--- order; `:sorted()` orders it by name.
local M = {}

local Query = {}
Query.__index = Query

local function as_list(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

--- A query over the hosts of `registry` selected by `targets` (names or tags; nil: all).
function M.new(registry, targets)
  return setmetatable({ registry = registry, targets = targets and as_list(targets), filters = {}, hidden_wanted = nil },
    Query)
end

--- Keeps the hosts that match every one of `filters` (names or tags).
function Query:filter(filters)
  local q = setmetatable({}, Query)
  for k, v in pairs(self) do q[k] = v end
  q.filters = {}
  for _, f in ipairs(self.filters) do q.filters[#q.filters + 1] = f end
  for _, f in ipairs(as_list(filters)) do q.filters[#q.filters + 1] = f end
  return q
end

--- Drops hidden hosts.
function Query:visible()
  local q = self:filter({})
  q.hidden_wanted = false
  return q
end

--- Keeps only hidden hosts.
function Query:hidden()
  local q = self:filter({})
  q.hidden_wanted = true
  return q
end

--- Orders the result by host name.
function Query:sorted()
  local q = self:filter({})
  q.by_name = true
  return q
end

local function any(host, names)
  for _, n in ipairs(names) do
    if host:matches(n) then return true end
  end
  return false
end

--- The matching hosts, in definition order.
function Query:list()
  local out = {}
  for _, host in ipairs(self.registry:list("host")) do
    local ok = (self.targets == nil or any(host, self.targets))
      and (self.hidden_wanted == nil or (host.hidden == true) == self.hidden_wanted)
    for _, f in ipairs(self.filters) do
      if not host:matches(f) then ok = false end
    end
    if ok then out[#out + 1] = host end
  end
  if self.by_name then table.sort(out, function(a, b) return a.name < b.name end) end
  return out
end

Query.get = Query.list

function Query:first()
  return self:list()[1]
end

function Query:each(fn)
  for _, host in ipairs(self:list()) do fn(host) end
end

function Query:names()
  local out = {}
  for i, host in ipairs(self:list()) do out[i] = host.name end
  return out
end

return M
