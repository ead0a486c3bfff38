--- essh.registry: where hosts, tasks and drivers live. Defining a name twice is an error that
--- names both places, unless the second definition says `override = true`; a host or task may
--- not be named like a tag. Several registries can coexist.
local M = {}

local Registry = {}
Registry.__index = Registry

local KINDS = { host = "hosts", task = "tasks", driver = "drivers" }

--- A new, empty registry.
function M.new()
  return setmetatable({ hosts = {}, tasks = {}, drivers = {}, order = { hosts = {}, tasks = {}, drivers = {} } },
    Registry)
end

local function tags_of(registry)
  local tags = {}
  for _, h in pairs(registry.hosts) do
    for _, t in ipairs(h.tags or {}) do tags[t] = h end
  end
  return tags
end

--- Adds `object` (a host, task or driver called `name`, defined at `where`).
function Registry:add(kind, name, object, where, override)
  local list = KINDS[kind]
  if not list then error("registry: unknown kind " .. tostring(kind), 2) end
  local existing = self[list][name]
  if existing and not override then
    error(("%s: %s %s is already defined at %s (say override = true to replace it)")
      :format(where, kind, name, existing._where or "?"), 0)
  end
  if kind ~= "driver" then
    local tagged = tags_of(self)[name]
    if tagged then
      error(("%s: %s %s has the name of a tag of host %s"):format(where, kind, name, tagged._name), 0)
    end
  end
  if kind == "host" then self:check_tags(object, where) end
  if not existing then table.insert(self.order[list], name) end
  self[list][name] = object
  return object
end

--- Refuses tags of `host` that name a host or a task.
function Registry:check_tags(host, where)
  for _, tag in ipairs(host.tags or {}) do
    local clash = self.hosts[tag] or self.tasks[tag]
    if clash and clash ~= host then
      error(("%s: host %s has a tag %s that is also the name of a %s"):format(where, host._name, tag,
        self.hosts[tag] and "host" or "task"), 0)
    end
  end
end

--- The host, task or driver called `name`, or nil.
function Registry:get(kind, name)
  return self[KINDS[kind]][name]
end

--- Every object of a kind, in the order they were defined.
function Registry:list(kind)
  local list = KINDS[kind]
  local out = {}
  for _, name in ipairs(self.order[list]) do out[#out + 1] = self[list][name] end
  return out
end

return M
