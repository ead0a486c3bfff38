--- essh.trust: config files act only once trusted, as direnv's `.envrc` does. `essh --trust`
--- records the sha256 of each config file the command would load in ~/.essh/trusted (mode
--- 0600); a file changed since is untrusted again. An untrusted config loads only for listings
--- (hosts, tasks, completion) and runs with deterministic modules only: no network, no
--- programs, no writes, reads in its own directory.
local native = require "essh_native"

local fs, crypto, env = native.fs, native.crypto, native.env

local M = {}

--- The file of trusted digests: ~/.essh/trusted.
function M.file()
  local home = env.get("HOME")
  if not home or home == "" then return nil end
  return fs.join(home, ".essh/trusted")
end

-- path -> sha256 of the records in the file.
local function records()
  local out, order = {}, {}
  local file = M.file()
  local text = file and fs.read(file)
  for line in (text or ""):gmatch("[^\n]+") do
    local digest, path = line:match("^(%x+)  (.+)$")
    if digest then
      if not out[path] then order[#order + 1] = path end
      out[path] = digest
    end
  end
  return out, order
end

-- The absolute path and digest of each config file (an item of discovery.config_files).
local function described(files)
  local out = {}
  for _, item in ipairs(files) do
    local path = fs.abspath(type(item) == "table" and item[1] or item)
    local digest, err = crypto.file_digest(path, "sha256", "hex")
    if not digest then error({ config = tostring(err) }, 0) end
    out[#out + 1] = { path = path, digest = digest }
  end
  return out
end

--- The config files of `files` that are not trusted as they are now: { {path, digest} }.
function M.untrusted(files)
  local trusted = records()
  local out = {}
  for _, f in ipairs(described(files)) do
    if trusted[f.path] ~= f.digest then out[#out + 1] = f end
  end
  return out
end

local function save(map, order)
  local file = M.file()
  if not file then return nil, "no HOME: nowhere to record trust" end
  local ok, err = fs.mkdir(fs.dirname(file), { parents = true, mode = 448 })
  if not ok then return nil, err end
  local lines = {}
  for _, path in ipairs(order) do
    if map[path] then lines[#lines + 1] = map[path] .. "  " .. path end
  end
  return fs.write(file, table.concat(lines, "\n") .. (#lines > 0 and "\n" or ""), { mode = 384 })
end

--- `essh --trust`: records the files' digests and shows what is trusted; the exit code.
function M.trust(files, out)
  if #files == 0 then
    out:write("essh: no config file here to trust\n")
    return 1
  end
  local map, order = records()
  for _, f in ipairs(described(files)) do
    local text = fs.read(f.path) or ""
    local _, newlines = text:gsub("\n", "")
    out:write(("trusting %s\n  %d lines, %d bytes, sha256 %s\n"):format(f.path, newlines, #text, f.digest))
    if not map[f.path] then order[#order + 1] = f.path end
    map[f.path] = f.digest
  end
  local ok, err = save(map, order)
  if not ok then error({ config = "cannot record trust: " .. tostring(err) }, 0) end
  out:write(("recorded in %s\n"):format(M.file()))
  return 0
end

--- `essh --untrust`: forgets the files; the exit code.
function M.untrust(files, out)
  local map, order = records()
  for _, f in ipairs(described(files)) do
    if map[f.path] then out:write(("no longer trusting %s\n"):format(f.path)) end
    map[f.path] = nil
  end
  local ok, err = save(map, order)
  if not ok then error({ config = "cannot record trust: " .. tostring(err) }, 0) end
  return 0
end

local function names(untrusted)
  local list = {}
  for i, f in ipairs(untrusted) do list[i] = f.path end
  return table.concat(list, ", ")
end

--- What refuses a command of untrusted configs.
function M.refusal(untrusted)
  local one = #untrusted == 1
  return ("%s %s not trusted (new, or changed since trusted): %s may list hosts and tasks but do nothing "
    .. "until trusted; read %s, then run `essh --trust` (or `essh --trust-once ...` for one run)")
    :format(names(untrusted), one and "is" or "are", one and "it" or "they", one and "it" or "them")
end

--- The policy untrusted configs load under: deterministic modules, reads in their directories.
function M.policy(untrusted)
  local dirs = {}
  for i, f in ipairs(untrusted) do dirs[i] = fs.dirname(f.path) end
  return native.permissions.policy { name = "an untrusted config", allow = { read = dirs },
    hint = ("%s must be trusted first: read it, then run `essh --trust`"):format(names(untrusted)) }
end

--- Whether the environment trusts every config (ESSH_TRUST_ALL=1, for CI).
function M.all_trusted()
  local v = env.get("ESSH_TRUST_ALL")
  return v ~= nil and v ~= "" and v ~= "0"
end

return M
