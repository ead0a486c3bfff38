--- essh.cli.complete: `essh --complete=KIND` (the words the completion scripts offer, as
--- name:description lines) and `essh --bash-completion` / `--zsh-completion` (the scripts).
local flags_of = require "essh.cli.flags"
local hosts = require "essh.cli.hosts"
local tags = require "essh.cli.tags"
local tasks = require "essh.cli.tasks"

local M = {}

local EVERYTHING = { select = {}, filter = {} }

function M.command(registry, kind, out)
  if kind == "tasks" then
    for _, t in ipairs(tasks.visible(registry, {})) do out:write(t.name, ":", t.description or "", "\n") end
    for _, c in ipairs(registry:list("command")) do out:write(c.name, ":", c.description or "", "\n") end
  elseif kind == "hosts" then
    for _, h in ipairs(hosts.selected(registry, EVERYTHING)) do out:write(h.name, ":", h.description or "", "\n") end
  elseif kind == "tags" then
    for _, tag in ipairs((tags.of(registry, EVERYTHING))) do out:write(tag, ":tag\n") end
  elseif kind == "flags" then
    for _, f in ipairs(flags_of.FLAGS) do out:write(f[1], ":", f[3], "\n") end
  end
  return 0
end

--- Prints the completion script of `shell` ("bash" or "zsh").
function M.script(shell, out)
  out:write(require("essh.cli.completion_scripts")[shell])
  return 0
end

return M
