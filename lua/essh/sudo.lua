--- essh.sudo: running commands as another user through sudo, with the password (when sudo
--- needs one) sent as the first line of stdin, never on a command line.
local secret = require "essh.secret"
local quote = require("essh.shell").quote

local M = {}

--- How to run a command as `as_user` on a host: the command prefix and the stdin prefix.
--- `sudo -n` when sudo needs no password there, else `sudo -S` with the password as the first
--- line of stdin. `exec(command)` runs a command on the host; `password()` gives the sudo
--- password, asked at most once per run.
function M.prefixes(as_user, exec, password)
  local sudo = "sudo -u " .. quote(as_user)
  local probe = exec(sudo .. " -n true")
  if probe and probe.ok then return sudo .. " -n ", "" end
  local pw = password()
  if not pw then
    error(("sudo needs a password here: give sudo_password (or answer the prompt of essh.main)"), 0)
  end
  return sudo .. " -S -p '' ", secret.reveal(pw) .. "\n"
end

--- `stdin` (nil, a string or a reader function) after `first`.
function M.stdin_after(first, stdin)
  if first == "" then return stdin end
  if type(stdin) ~= "function" then return first .. (stdin or "") end
  local sent = false
  return function()
    if not sent then sent = true return first end
    return stdin()
  end
end

--- `command` wrapped to run as the user that `prefix` (from M.prefixes) names.
function M.wrap(prefix, command)
  return prefix .. "sh -c " .. quote(command)
end

return M
