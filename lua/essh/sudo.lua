--- essh.sudo: running commands as another user through sudo. The password (when sudo needs
--- one) goes over stdin, never on a command line, and never reaches the command: it is followed
--- by a line of its own (a marker made for the run), and the command starts only after the
--- marker, whether sudo read the password line (it prompted) or not (its credentials were
--- cached, or a rule needs no password).
local secret = require "essh.secret"
local crypto = require("essh_native").crypto
local quote = require("essh.shell").quote

local M = {}

-- Reads stdin up to the marker line ($1), then runs the command ($2).
local SKIP_TO_MARKER = 'while IFS= read -r line && [ "$line" != "$1" ]; do :; done; exec sh -c "$2"'

--- How to run commands as `as_user` on a host: { prefix, stdin, marker }. `sudo -n` when sudo
--- needs no password there (nothing on stdin), else `sudo -S` with the password and a marker as
--- the first two lines of stdin. `exec(command)` runs a command on the host; `password()`
--- gives the sudo password, asked at most once per run.
function M.plan(as_user, exec, password)
  local sudo = "sudo -u " .. quote(as_user)
  local probe = exec(sudo .. " -n true")
  if probe and probe.ok then return { prefix = sudo .. " -n ", stdin = "" } end
  local pw = password()
  if not pw then
    error(("sudo needs a password here: give sudo_password (or answer the prompt of essh.main)"), 0)
  end
  local marker = "essh-sudo-" .. crypto.sha256(crypto.random_bytes(16)):sub(1, 24)
  return { prefix = sudo .. " -S -p '' ", stdin = secret.reveal(pw) .. "\n" .. marker .. "\n", marker = marker }
end

--- `command` wrapped to run as the plan's user.
function M.command(plan, command)
  if not plan.marker then return plan.prefix .. "sh -c " .. quote(command) end
  return ("%ssh -c %s sh %s %s"):format(plan.prefix, quote(SKIP_TO_MARKER), quote(plan.marker), quote(command))
end

--- `stdin` (nil, a string or a reader function) with what the plan sends first.
function M.stdin(plan, stdin)
  local first = plan.stdin
  if first == "" then return stdin end
  if type(stdin) ~= "function" then return first .. (stdin or "") end
  local sent = false
  return function()
    if not sent then sent = true return first end
    return stdin()
  end
end

return M
