--- essh.inventory: hosts defined from what describes the fleet, so that `essh --hosts`,
--- `--select` and tasks use them like written ones.
---
--- `inventory.aws { filters = ..., hostname = ..., address = ..., tags = ..., props = ..., ssh = ... }`
--- defines a host per EC2 instance (running ones unless the filters name a state), in the way of
--- Ansible's aws_ec2 inventory: names from `hostname` (a field, "tag:Name", a list of them tried
--- in order, or a function), HostName from `address`, tags from instance tags and attributes
--- (`keyed_groups`), props and ssh options for every host. `cache = seconds` keeps the answer
--- in ~/.essh/cache (mode 0600) that long.
---
--- `inventory.mdns { service = "_ssh._tcp", timeout = 2, tags_from_txt = "tags", ssh = ... }`
--- defines a host per instance that answers.
local check = require "essh.check"
local native = require "essh_native"

local M = {}

local json, crypto, fs = native.json, native.crypto, native.fs

--- The value of `field` in `record`: "tag:Name" (a tag), "Placement.AvailabilityZone" (a
--- path), "PrivateIpAddress" (a field), or a function of the record.
local function value_of(record, field)
  if type(field) == "function" then return field(record) end
  local tag = field:match("^tag:(.+)$")
  if tag then
    for _, t in ipairs(record.Tags or {}) do
      if t.Key == tag then return t.Value end
    end
    return nil
  end
  local v = record
  for part in field:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

-- The first non-empty value of a field or list of fields.
local function first_of(record, fields)
  if type(fields) ~= "table" then fields = { fields } end
  for _, f in ipairs(fields) do
    local v = value_of(record, f)
    if v ~= nil and v ~= "" then return v end
  end
  return nil
end

--- A host or tag name made of `text`: characters a name cannot hold become "_".
local function name_of(text)
  local s = tostring(text):gsub("[%s%*%?!#%c,]", "_")
  return s
end

local function where(level)
  local info = debug.getinfo(level + 1, "Sl")
  if not info or info.currentline < 0 then return "essh.inventory" end
  return ("%s:%d"):format(info.short_src, info.currentline)
end

local function known_fields(at, what, spec, known)
  if type(spec) ~= "table" then
    error(("%s: %s: expected a table of fields, got %s"):format(at, what, check.got(spec)), 0)
  end
  for k in pairs(spec) do
    if not known[k] then error(("%s: %s: unknown field '%s'"):format(at, what, tostring(k)), 0) end
  end
end

-- The tags of a record from `specs`: "tag:Role" gives the tag's value (web), a table
-- { key = "tag:Role", prefix = "role" } gives role_web, as Ansible's keyed_groups do.
local function tags_of(record, specs)
  local out, seen = {}, {}
  for _, s in ipairs(specs or {}) do
    local field, prefix = s, nil
    if type(s) == "table" then field, prefix = s.key, s.prefix end
    local v = value_of(record, field)
    if v ~= nil and v ~= "" then
      local list = type(v) == "table" and v or { v }
      for _, item in ipairs(list) do
        local tag = name_of(prefix and (prefix .. "_" .. tostring(item)) or tostring(item))
        if not seen[tag] then
          seen[tag] = true
          out[#out + 1] = tag
        end
      end
    end
  end
  return out
end

local function props_of(record, specs, base)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for name, field in pairs(specs or {}) do
    local v = value_of(record, field)
    if type(v) == "string" or type(v) == "number" or type(v) == "boolean" then out[name] = v end
  end
  return out
end

-- Defines one host per record; a name given twice gets the record's id after it.
local function define(host, records, at, options)
  local counts, defined = {}, {}
  local names = {}
  for i, r in ipairs(records) do
    local name = first_of(r, options.hostname)
    if name == nil then
      error(("%s: %s: no value for the host name (%s) of %s"):format(at, options.what,
        type(options.hostname) == "table" and table.concat(options.hostname, ", ") or tostring(options.hostname),
        tostring(options.id(r))), 0)
    end
    names[i] = name_of(name)
    counts[names[i]] = (counts[names[i]] or 0) + 1
  end
  for i, r in ipairs(records) do
    local name = names[i]
    if counts[name] > 1 then name = name .. "-" .. name_of(options.id(r)) end
    local spec = {}
    for k, v in pairs(options.ssh or {}) do spec[k] = v end
    local address = first_of(r, options.address)
    if address ~= nil then spec.HostName = tostring(address) end
    if options.port then spec.Port = options.port(r) end
    spec.tags = options.tags(r)
    spec.props = options.props(r)
    spec.description = options.description(r)
    defined[#defined + 1] = host(name, spec)
  end
  return defined
end

--- The cache file of a query, under ~/.essh/cache.
local function cache_path(kind, query)
  local home = os.getenv("HOME") or "."
  local key = crypto.sha256(json.encode(query, { sort_keys = true }))
  return ("%s/.essh/cache/%s-%s.json"):format(home, kind, key:sub(1, 32))
end

local function read_cache(path, seconds)
  local text = fs.read(path)
  if not text then return nil end
  local doc = json.decode(text)
  if type(doc) ~= "table" or type(doc.at) ~= "number" or os.time() - doc.at > seconds then return nil end
  return doc.records
end

-- Tags lists also answer tags by key (instance.Tags.Name); JSON keeps only the list.
local function plain(records)
  local out = {}
  for i, r in ipairs(records) do
    local copy = {}
    for k, v in pairs(r) do copy[k] = v end
    if type(r.Tags) == "table" then
      local list = {}
      for j, t in ipairs(r.Tags) do list[j] = t end
      copy.Tags = list
    end
    out[i] = copy
  end
  return out
end

local function index_tags(records)
  for _, r in ipairs(records) do
    for _, t in ipairs(r.Tags or {}) do
      if r.Tags[t.Key] == nil then r.Tags[t.Key] = t.Value end
    end
  end
  return records
end

local function write_cache(path, records)
  local dir = path:match("^(.*)/[^/]*$")
  fs.mkdir(dir, { parents = true, mode = 448 })
  fs.write(path, json.encode({ at = os.time(), records = plain(records) }), { mode = 384 })
end

local AWS_FIELDS = {
  filters = true, hostname = true, address = true, tags = true, props = true, ssh = true, cache = true,
  region = true, profile = true, endpoint = true, credentials = true, regions = true, description = true,
}

local function has_state_filter(filters)
  for k, v in pairs(filters or {}) do
    if k == "instance-state-name" or (type(v) == "table" and v.Name == "instance-state-name") then return true end
  end
  return false
end

local function aws_instances(spec, at)
  local aws = require("essh_native").aws
  local filters = {}
  for k, v in pairs(spec.filters or {}) do filters[k] = v end
  if not has_state_filter(filters) then
    if #filters > 0 then
      filters[#filters + 1] = { Name = "instance-state-name", Values = { "running" } }
    else
      filters["instance-state-name"] = "running"
    end
  end
  local regions = spec.regions or { spec.region or false }
  local all = {}
  for _, region in ipairs(regions) do
    local client = aws.client("ec2", { region = region or nil, profile = spec.profile, endpoint = spec.endpoint,
      credentials = spec.credentials })
    local list, err = client:describeInstances { Filters = filters }
    if not list then error(("%s: essh.inventory.aws: %s"):format(at, tostring(err)), 0) end
    for _, i in ipairs(list) do
      i.Region = region or (i.Placement and i.Placement.AvailabilityZone or ""):gsub("%a$", "")
      all[#all + 1] = i
    end
  end
  return all
end

--- Binds the inventories to a registry's `host` function.
function M.bind(host)
  local bound = {}

  function bound.aws(spec)
    local at = where(2)
    known_fields(at, "essh.inventory.aws", spec, AWS_FIELDS)
    local instances
    local cache = spec.cache
    local path
    if cache then
      path = cache_path("aws", { filters = spec.filters, region = spec.region, regions = spec.regions,
        profile = spec.profile, endpoint = spec.endpoint })
      instances = read_cache(path, cache)
      if instances then index_tags(instances) end
    end
    if not instances then
      instances = aws_instances(spec, at)
      if cache then write_cache(path, instances) end
    end
    return define(host, instances, at, {
      what = "essh.inventory.aws",
      hostname = spec.hostname or { "tag:Name", "PrivateDnsName", "InstanceId" },
      address = spec.address or { "PrivateIpAddress", "PublicIpAddress" },
      ssh = spec.ssh,
      id = function(i) return i.InstanceId end,
      tags = function(i) return tags_of(i, spec.tags) end,
      props = function(i)
        return props_of(i, spec.props, { instance_id = i.InstanceId, region = i.Region,
          availability_zone = i.Placement and i.Placement.AvailabilityZone })
      end,
      description = function(i)
        if spec.description then return value_of(i, spec.description) end
        return ("%s %s"):format(i.InstanceId, i.InstanceType or "")
      end,
    })
  end

  local MDNS_FIELDS = { service = true, timeout = true, interface = true, tags_from_txt = true, ssh = true,
    hostname = true, address = true, tags = true, props = true }

  function bound.mdns(spec)
    local at = where(2)
    known_fields(at, "essh.inventory.mdns", spec, MDNS_FIELDS)
    local found, err = require("essh_native").mdns.discover(spec.service or "_ssh._tcp",
      { timeout = spec.timeout or 2, interface = spec.interface })
    if not found then error(("%s: essh.inventory.mdns: %s"):format(at, tostring(err)), 0) end
    local txt_tags = spec.tags_from_txt
    return define(host, found, at, {
      what = "essh.inventory.mdns",
      hostname = spec.hostname or "name",
      address = spec.address or function(i) return i.addresses[1] or i.hostname end,
      port = function(i) return i.port end,
      ssh = spec.ssh,
      id = function(i) return i.hostname ~= "" and i.hostname or i.fullname end,
      tags = function(i)
        local out = tags_of(i, spec.tags)
        if txt_tags and i.txt[txt_tags] then
          for t in i.txt[txt_tags]:gmatch("[^,%s]+") do out[#out + 1] = name_of(t) end
        end
        return out
      end,
      props = function(i)
        local p = props_of(i, spec.props, { mdns_name = i.fullname, mdns_hostname = i.hostname })
        return p
      end,
      description = function(i) return ("mDNS %s"):format(i.fullname) end,
    })
  end

  return bound
end

return M
