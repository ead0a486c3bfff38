--- essh.storage.s3: a store in an S3 bucket (`storage.open("s3://bucket/prefix")`), for teams
--- whose machines share no database. Every change is one object written with S3's conditional
--- writes, as Terraform's S3 backend locks: `If-None-Match: *` creates only what does not
--- exist, `If-Match` replaces only the version that was read, so updates and leases stay
--- atomic across processes and machines.
---
--- Under the prefix: `kv/<key>` holds a value ({ value, ttl, updated, by }),
--- `history/<key>/<newest first>` one line of its history each, `locks/<name>` a lease
--- ({ holder, token, ttl, since, released }). A value's ttl, and a lease not written again, end
--- when S3's clock has passed the object's LastModified by ttl (in whole seconds: up to two
--- more). Keys are percent-encoded, so that a key never reads as a prefix of another's objects.
local native = require "essh_native"

local json, runtime, time_of = native.json, native.runtime, native.time

-- How HTTP writes times (Last-Modified, Date).
local HTTP_DATE = "!%a, %d %b %Y %H:%M:%S GMT"

local M = {}

local function encode_key(key)
  return (tostring(key):gsub("[^%w%.%-_]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function decode_key(text)
  return (text:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Line names of a key's history sort newest first: the time counts down.
local function history_line(t)
  local hex = native.crypto.random_bytes(4):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  return ("%016d-%s"):format(math.floor(1e16 - t * 1e6), hex)
end

local function is(err, kind) return err ~= nil and err.kind == kind end

-- Whether a conditional request failed because the object changed (or went) since it was read.
local function changed(err) return is(err, "conflict") or is(err, "not_found") end

-- The stores' class, made on the first open.
local Backend

--- Opens the store at `url` (s3://bucket[/prefix]); `who` is the JSON of the caller's user,
--- machine and pid; `shared`, what storage.lua's stores share.
function M.open(url, options, who, shared)
  local bucket, prefix = url:match("^s3://([^/]+)/?(.*)$")
  if not bucket or bucket == "" then
    return nil, native.error("invalid", ("storage.open: '%s' names no bucket (s3://bucket/prefix)"):format(url))
  end
  if prefix ~= "" and prefix:sub(-1) ~= "/" then prefix = prefix .. "/" end
  local aws = options and options.aws or {}
  if type(aws) ~= "table" then
    error("storage.open: options.aws must be a table of aws.client options, got " .. type(aws), 3)
  end
  local client_options = {}
  for k, v in pairs(aws) do client_options[k] = v end
  if options and options.timeout then client_options.timeout = options.timeout end
  local s3 = native.aws.client("s3", client_options)
  local _, err = s3:list(bucket, { prefix = prefix, max = 1 })
  if err then return nil, err end
  if not Backend then
    Backend = setmetatable(M.methods(shared), { __index = shared.Store })
    Backend.__index = Backend
  end
  return setmetatable({ s3 = s3, bucket = bucket, root = prefix, who = who, name = url }, Backend)
end

--- The store's methods, over storage.lua's helpers.
function M.methods(shared)
  local encode, decode, now = shared.encode, shared.decode, shared.now
  local S = {}

  local function object(self, kind, key) return self.root .. kind .. "/" .. encode_key(key) end

  -- An object's document, its ETag and its head (LastModified and Date: S3's clock), read as
  -- one version by one GET; nil when there is none.
  local function read(self, key)
    local body, info = self.s3:get(self.bucket, key)
    if not body then
      if is(info, "not_found") then return nil end
      return nil, nil, info
    end
    return json.decode(body), info.ETag, nil, info
  end

  local function put(self, key, doc, conditions)
    return self.s3:put(self.bucket, key, json.encode(doc), conditions)
  end

  -- Appends a line to key's history and keeps its newest `keep` lines.
  local function remember(self, key, text, keep)
    local t = now()
    local dir = object(self, "history", key) .. "/"
    local ok, err = put(self, dir .. history_line(t), { value = text or json.null, at = t, by = self.who })
    if not ok then return nil, err end
    if keep then
      local lines, lerr = self.s3:list(self.bucket, { prefix = dir })
      if not lines then return nil, lerr end
      for i = keep + 1, #lines do self.s3:delete(self.bucket, lines[i].Key) end
    end
    return true
  end

  -- Whether S3's clock has passed `seconds` after the object was last written: its Date and
  -- LastModified count whole seconds, so only when it surely has.
  local function past(info, seconds)
    local written = time_of.parse(info.LastModified or "", HTTP_DATE)
    local answered = time_of.parse(info.Date or "", HTTP_DATE)
    return written ~= nil and answered ~= nil and answered - written >= seconds + 1
  end

  -- A value's document as read with its head: its value, unless its ttl is over on S3's clock
  -- (a document written before ttls counted there has `expires`, on its writer's clock).
  local function value_of(doc, info)
    if doc == nil or doc.value == nil or doc.value == json.null then return nil end
    if type(doc.ttl) == "number" and past(info, doc.ttl) then return nil end
    if type(doc.expires) == "number" and doc.expires <= now() then return nil end
    return decode(doc.value)
  end

  function S:get(key)
    shared.check_key(key, "store:get", 3)
    local doc, _, err, info = read(self, object(self, "kv", key))
    if err then return nil, err end
    return value_of(doc, info)
  end

  function S:set(key, value, options)
    local text, ttl, keep = shared.set_arguments(key, value, options)
    shared.bury_orphans()
    local doc = { value = text, ttl = ttl or json.null, updated = now(), by = self.who }
    local ok, err = put(self, object(self, "kv", key), doc)
    if not ok then return nil, err end
    return remember(self, key, text, keep)
  end

  function S:delete(key)
    shared.check_key(key, "store:delete", 3)
    shared.bury_orphans()
    local ok, err = self.s3:delete(self.bucket, object(self, "kv", key))
    if not ok and not is(err, "not_found") then return nil, err end
    return remember(self, key, nil)
  end

  function S:keys(prefix)
    shared.check_key(prefix, "store:keys", 3, true)
    shared.bury_orphans()
    local start = self.root .. "kv/"
    local objects, err = self.s3:list(self.bucket, { prefix = start .. encode_key(prefix or "") })
    if not objects then return nil, err end
    local out = {}
    for _, o in ipairs(objects) do
      local doc, _, _, info = read(self, o.Key)
      if value_of(doc, info) ~= nil then out[#out + 1] = decode_key(o.Key:sub(#start + 1)) end
    end
    table.sort(out)
    return out
  end

  -- Reads, calls fn(old) and writes what it returns (nil: a deletion) only over the version it
  -- read; a writer in between makes it read and call fn again.
  function S:update(key, fn, options)
    local attempts = shared.update_arguments(key, fn, options)
    shared.bury_orphans()
    local name = object(self, "kv", key)
    for attempt = 1, attempts do
      local doc, etag, err, info = read(self, name)
      if err then return nil, err end
      local new = fn(value_of(doc, info))
      local text = new ~= nil and encode(new, 3) or nil
      if text == nil and etag == nil then return nil end
      -- A deletion is a value of null, so that it too is written only over what was read.
      local written, werr = put(self, name, { value = text or json.null, ttl = json.null, updated = now(), by = self.who },
        etag and { if_match = etag } or { if_none_match = "*" })
      if written then
        local ok, herr = remember(self, key, text)
        if not ok then return nil, herr end
        return new
      end
      if not changed(werr) then return nil, werr end
      runtime.sleep(math.random() * 0.01 * attempt)
    end
    return nil, native.error("timeout", ("storage: %s changed under every one of %d attempts"):format(key, attempts))
  end

  function S:history(key, n)
    n = shared.history_arguments(key, n)
    local objects, err = self.s3:list(self.bucket, { prefix = object(self, "history", key) .. "/", max = n })
    if not objects then return nil, err end
    local out = {}
    for _, o in ipairs(objects) do
      local body, gerr = self.s3:get(self.bucket, o.Key)
      if not body then return nil, gerr end
      local line = json.decode(body)
      out[#out + 1] = { value = decode(line.value ~= json.null and line.value or nil), at = line.at, by = json.decode(line.by) }
    end
    return out
  end

  -- Whether a lease has ended: released, or not written again within its ttl, on S3's clock,
  -- whatever the machines' clocks say.
  local function ended(doc, info)
    return doc.released or past(info, doc.ttl)
  end

  function S:claim(name, token, ttl)
    local lease = object(self, "locks", name)
    local mine = { holder = self.who, token = token, ttl = ttl, since = now() }
    local ok, err = put(self, lease, mine, { if_none_match = "*" })
    if ok then return true end
    if not is(err, "conflict") then return nil, err end
    local doc, etag, rerr, info = read(self, lease)
    if rerr then return nil, rerr end
    if doc == nil then return false end
    if not ended(doc, info) then return false, doc end
    ok, err = put(self, lease, mine, { if_match = etag })
    if ok then return true end
    if changed(err) then return false, doc end
    return nil, err
  end

  -- Rewrites the lease `name` while `token` holds it, with `change` applied.
  local function amend(self, name, token, change)
    local lease = object(self, "locks", name)
    for _ = 1, 20 do
      local doc, etag, err = read(self, lease)
      if err then return nil, err end
      if doc == nil or doc.token ~= token then return true end
      change(doc)
      local ok, perr = put(self, lease, doc, { if_match = etag })
      if ok then return true end
      if not changed(perr) then return nil, perr end
    end
    return nil, native.error("timeout", "storage: the lease " .. name .. " changed under every attempt")
  end

  -- A renewal writes the lease again: its LastModified moves on.
  function S:renew_lease(name, token, ttl)
    return amend(self, name, token, function(doc) doc.ttl = ttl end)
  end

  function S:release_lease(name, token)
    return amend(self, name, token, function(doc) doc.released = true end)
  end

  function S.close() end

  return S
end

return M
