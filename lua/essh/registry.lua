--- essh.registry: where hosts, tasks and drivers live. Defining a name again replaces the earlier
--- definition (as essh v3 did, and as override files rely on); `replaced` lists each
--- replacement with both places. A task may not be named like a host, nor a host like a tag
--- (errors naming both places). Several registries can coexist.
local M = {}

local Registry = {}
Registry.__index = Registry

local KINDS = { host = "hosts", task = "tasks", driver = "drivers", command = "commands" }

--- A new, empty registry.
function M.new()
  return setmetatable({ hosts = {}, tasks = {}, drivers = {}, commands = {},
    order = { hosts = {}, tasks = {}, drivers = {}, commands = {} },
    replaced = {}, _tags = {}, _tags_stale = false }, Registry)
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
function Registry:add(kind, name, object, where)
  local list = KINDS[kind]
  if not list then error("registry: unknown kind " .. tostring(kind), 2) end
  local existing = self[list][name]
  if existing and existing ~= object then
    self.replaced[#self.replaced + 1] = { kind = kind, name = name, was = existing._where or "?", now = where }
  end
  if kind == "host" then
    local tagged = tag_index(self)[name]
    if tagged and tagged ~= object and tagged ~= existing then
      error(("%s: host %s has the name of a tag of host %s (defined at %s)"):format(where, name, tagged._name,
        tagged._where or "?"), 0)
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

--- Refuses tags of `host` that name a host.
function Registry:check_tags(host, where)
  for _, tag in ipairs(host.tags or {}) do
    local clash = self.hosts[tag]
    if clash and clash ~= host then
      error(("%s: host %s has a tag %s that is also the name of the host defined at %s"):format(where, host._name,
        tag, clash._where or "?"), 0)
    end
  end
end

--- Checks every rule again over the whole registry (tags may have changed in place since
--- their hosts were defined); raises the first broken one, naming where it was defined.
function Registry:check()
  self:tags_changed()
  for _, name in ipairs(self.order.tasks) do
    local task, host = self.tasks[name], self.hosts[name]
    if host then
      error(("%s: task %s has the name of the host defined at %s"):format(task._where or "?", name,
        host._where or "?"), 0)
    end
  end
  for _, name in ipairs(self.order.commands) do
    local command, clash = self.commands[name], self.tasks[name] or self.hosts[name]
    if clash then
      error(("%s: command %s has the name of the %s defined at %s"):format(command._where or "?", name,
        self.tasks[name] and "task" or "host", clash._where or "?"), 0)
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
