--- essh.query: host queries. `select{"web", "db"}` keeps the hosts named so or tagged so (any
--- of them); `:filter("production")` keeps those matching every filter; `:visible()` drops
--- hidden hosts. `:list()`, `:first()`, `:each(fn)`, `:names()` read the result, in
--- definition order.
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
  return setmetatable({ registry = registry, targets = targets and as_list(targets), filters = {}, only_visible = false },
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
  q.only_visible = true
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
    local ok = (self.targets == nil or any(host, self.targets)) and not (self.only_visible and host.hidden)
    for _, f in ipairs(self.filters) do
      if not host:matches(f) then ok = false end
    end
    if ok then out[#out + 1] = host end
  end
  return out
end

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
