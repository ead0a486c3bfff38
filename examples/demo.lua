-- The demo until the SSH transport lands: a YAML inventory, converted to JSON and back,
-- with a digest of each form.   Run: make demo
local essh = require "essh"
local json, yaml, crypto = essh.json, essh.yaml, essh.crypto

local inventory = assert(yaml.decode([[
defaults: &defaults
  User: deploy
  Port: 22
hosts:
  web1: {<<: *defaults, HostName: 10.0.0.5, tags: [web]}
  web2: {<<: *defaults, HostName: 10.0.0.6, tags: [web], Port: 2222}
  db1:  {<<: *defaults, HostName: 10.0.0.7, tags: [db]}
]]))

local text = assert(json.encode(inventory.hosts, { indent = true, sort_keys = true }))
print(text)
local back = assert(json.decode(text))
assert(back.web2.Port == 2222 and back.web1.User == "deploy", "round trip lost data")
print(("json sha256 %s"):format(crypto.sha256(text)))
print(yaml.encode(back))
local interpreter = rawget(_G, "jit") and jit.version or _VERSION
print(("essh %s on %s: %d hosts round-tripped through YAML and JSON"):format(essh._VERSION, interpreter, 3))
