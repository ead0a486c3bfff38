--- essh.command: commands a config adds to the essh command line:
---
---     essh.command "backup" { description = "copy the databases here",
---       run = function(args) ... return 0 end }      -- essh backup [args...]
---
--- `--help` lists them and completion offers them, beside the tasks. run gets the words after
--- the name; it returns the exit code (nothing or true: 0, false: 1).
local check = require "essh.check"

local M = {}

local CHECKS = { description = check.text, run = check.func }

--- A command called `name`, defined by `spec` at `where`.
function M.new(name, spec, where)
  check.field(where, "command " .. check.got(name), "its name", check.name, name)
  if type(spec) ~= "table" then
    error(("%s: command %s: expected a table of fields, got %s"):format(where, name, check.got(spec)), 0)
  end
  for key, value in pairs(spec) do
    if not CHECKS[key] then error(("%s: command %s: unknown field '%s'"):format(where, name, tostring(key)), 0) end
    check.field(where, "command " .. name, key, CHECKS[key], value)
  end
  if not spec.run then error(("%s: command %s: run (a function) is required"):format(where, name), 0) end
  return { name = name, description = spec.description, run = spec.run, _where = where }
end

--- Runs `command` with `args`; returns the exit code.
function M.run(command, args)
  local result = command.run(args)
  if result == nil or result == true then return 0 end
  if result == false then return 1 end
  if type(result) ~= "number" or result % 1 ~= 0 then
    error(("command %s: run must return an exit code (an integer), true, false or nothing"):format(command.name), 0)
  end
  return result
end

return M
