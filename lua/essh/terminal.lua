--- essh.terminal: whether a stream is a terminal, whether to colour it (a terminal, and
--- NO_COLOR unset), and ANSI colouring.
local env = require("essh_native").env

local M = {}

local NAMES = { [io.stdout] = "stdout", [io.stderr] = "stderr" }

--- Whether `stream` (io.stdout or io.stderr; anything else is not) is a terminal.
function M.is(stream)
  local name = NAMES[stream]
  return name ~= nil and env.is_terminal(name)
end

--- Whether output to `stream` should be coloured.
function M.colour(stream)
  return env.get("NO_COLOR") == nil and M.is(stream)
end

--- `text` in the ANSI colour `code` (31 red, 32 green, 2 dim, ...).
function M.paint(code, text)
  return ("\27[%dm%s\27[0m"):format(code, text)
end

return M
