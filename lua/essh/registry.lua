--- essh.registry: where hosts, tasks and drivers live. Defining a name twice is an error that
--- names both places, unless the second definition says `override = true`; a host or task may
--- not be named like a tag. Several registries can coexist.
local M = {}

local Registry = {}
Registry.__index = Registry

local KINDS = { host = "hosts", task = "tasks", driver = "drivers" }

--- A new, empty registry.
function M.new()
  return setmetatable({ hosts = {}, tasks = {}, drivers = {}, order = { hosts = {}, tasks = {}, drivers = {} },
    _tags = {}, _tags_stale = false }, Registry)
end

-- The tag index: tag -> the first host carrying it. Kept up to date as hosts are added and
-- their tags set (`index_tags`); a change it cannot follow (`tags_changed`) has it rebuilt on
-- next use. `check` verifies everything once a config has run, whatever changed in between.
local function tag_index(registry)
  if registry._tags_stale then
    registry._tags, registry._tags_stale = {}, false
    for _, name in ipairs(registry.order.hosts) do registry:index_tags(registry.hosts[name]) end
  end
  return registry._tags
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
    local tagged = tag_index(self)[name]
    if tagged and tagged ~= object then
      error(("%s: %s %s has the name of a tag of host %s"):format(where, kind, name, tagged._name), 0)
    end
  end
  if kind == "host" then self:check_tags(object, where) end
  if not existing then table.insert(self.order[list], name) end
  self[list][name] = object
  if kind == "host" then
    if existing then self:tags_changed() else self:index_tags(object) end
  end
  return object
end

--- Enters the tags of `host` in the tag index.
function Registry:index_tags(host)
  local index = self._tags
  for _, tag in ipairs(host.tags or {}) do
    if type(tag) == "string" and index[tag] == nil then index[tag] = host end
  end
end

--- Says that some host's tags changed in a way the index cannot follow.
function Registry:tags_changed()
  self._tags_stale = true
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

--- Checks every rule again over the whole registry (tags may have changed in place since
--- their hosts were defined); raises the first broken one, naming where it was defined.
function Registry:check()
  self:tags_changed()
  local index = tag_index(self)
  for _, list in ipairs { "hosts", "tasks" } do
    for _, name in ipairs(self.order[list]) do
      local object, tagged = self[list][name], index[name]
      if tagged and tagged ~= object then
        error(("%s: %s %s has the name of a tag of host %s"):format(object._where or "?",
          list == "hosts" and "host" or "task", name, tagged._name), 0)
      end
    end
  end
  for _, name in ipairs(self.order.hosts) do
    local host = self.hosts[name]
    self:check_tags(host, host._where or "?")
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
