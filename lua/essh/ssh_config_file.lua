--- essh.ssh_config_file: the ssh_config essh writes for OpenSSH tools, as essh v3 did: every
--- host's block, sorted by name, in a private temporary file removed when the program exits
--- (or in the file a config names: `essh.ssh_config = "/path"`). Scripts see its path as
--- ESSH_SSH_CONFIG; `ProxyCommand = "ssh -q -F " .. essh.ssh_config .. " -W %h:%p gw"` works.
local native = require "essh_native"

local fs = native.fs

local M = {}

local chosen, temporary, unmade

--- The file's path (made, empty, on first use), or nil and the error when no file can be
--- made (a policy refusing the temporary directory).
function M.path()
  if chosen then return chosen end
  if unmade then return nil, unmade end
  if not temporary then
    local dir, err = fs.tempdir("essh-ssh-config")
    if not dir then
      unmade = err
      return nil, err
    end
    fs.remove_at_exit(dir)
    temporary = dir .. "/ssh_config"
    assert(fs.write(temporary, "", { mode = 384 }))
  end
  return temporary
end

--- Whether a config chose the file (essh.ssh_config = path).
function M.chosen() return chosen ~= nil end

--- Makes `path` the file written (nil: back to the temporary one).
function M.set(path)
  if path ~= nil and (type(path) ~= "string" or path == "") then
    error("essh.ssh_config must be a path (a non-empty string)", 3)
  end
  chosen = path
end

--- The ssh_config text of `hosts` (a list), sorted by name.
function M.text(hosts)
  local sorted = {}
  for i, h in ipairs(hosts) do sorted[i] = h end
  table.sort(sorted, function(a, b) return a.name < b.name end)
  local blocks = {}
  for i, h in ipairs(sorted) do blocks[i] = h:ssh_config() end
  return table.concat(blocks, "\n")
end

--- Writes every host of `registry` to the file (mode 0600); returns its path, or nil and the
--- error (a policy may refuse the write).
function M.write(registry)
  local path, why = M.path()
  if not path then return nil, why end
  local ok, err = fs.write(path, M.text(registry:list("host")), { mode = 384 })
  if not ok then return nil, err end
  return path
end

return M
