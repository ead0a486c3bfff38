--- essh.sh: local programs called as functions, as essh v3's `sh` module (gluash) had them:
--- `sh.ls("-la", "/")`, `sh("/bin/ls", "/")`, pipes as methods (`sh.du("-sb"):sort("-rn")`,
--- `:cmd("sort", "-rn")`), and the results: `print()`, `ok()`, `success()`, `exitcode()`,
--- `lines()`, `stdout([file])`, `stderr([file])`, `combinedOutput([file])`; `sh.glob`.
--- Arguments go to the program as they are (no shell); tables of arguments are flattened.
--- A command runs when it is called, to its end; the next command of a pipe reads its output.
--- `sh{ abort = true }` makes every failing command raise; `sh{}` returns the settings.
local process = require("essh_native").process
local fs = require("essh_native").fs

local M = {}

local settings = { abort = false }

local Command = {}

local function flatten(args, out)
  for _, a in ipairs(args) do
    if type(a) == "table" then flatten(a, out) else out[#out + 1] = tostring(a) end
  end
  return out
end

local function failed(self)
  return ("sh: %s exited with status %s%s"):format(self.argv[1], tostring(self.status),
    self.err ~= "" and (": " .. self.err:gsub("%s+$", "")) or "")
end

-- Runs argv with `input` on its stdin; the result is a command object.
local function run(argv, input)
  if #argv == 0 then error("sh: a program to run is required", 3) end
  local r, err = process.run(argv, { stdin = input })
  local self = setmetatable({ argv = argv }, Command)
  if not r then
    self.status, self.out, self.err = 127, "", tostring(err)
  else
    self.status, self.out, self.err = r.exitStatus or 128, r.stdout, r.stderr
  end
  if settings.abort and self.status ~= 0 then error(failed(self), 3) end
  return self
end

Command.__index = function(_, name)
  local method = rawget(Command, name)
  if method then return method end
  return function(previous, ...)
    return run(flatten({ name, ... }, {}), previous.out)
  end
end

--- The next command of a pipe, named by path: `sh.du("-sb"):cmd("sort", "-rn")`.
function Command:cmd(path, ...)
  return run(flatten({ path, ... }, {}), self.out)
end

local function save(text, path)
  if path then assert(fs.write(path, text, { atomic = false })) end
  return text
end

function Command:stdout(path) return save(self.out, path) end
function Command:stderr(path) return save(self.err, path) end
function Command:combinedOutput(path) return save(self.out .. self.err, path) end

--- Writes the output and error output to stdout.
function Command:print()
  io.stdout:write(self.out, self.err)
  return self
end

--- Raises when the command failed.
function Command:ok()
  if self.status ~= 0 then error(failed(self), 2) end
  return self
end

function Command:success() return self.status == 0 end
function Command:exitcode() return self.status end

--- An iterator over the lines of the output.
function Command:lines()
  local text, at = self.out, 1
  return function()
    if at > #text then return nil end
    local stop = text:find("\n", at, true) or #text + 1
    local line = text:sub(at, stop - 1)
    at = stop + 1
    return line
  end
end

Command.__tostring = function(self) return self.out end

--- The paths matching a glob pattern, sorted (the pattern itself when nothing matches and it has
--- no wildcard, as gluash did).
function M.glob(pattern)
  local found = fs.glob(pattern)
  if #found == 0 and not pattern:find("[%*%?%[]") and fs.exists(pattern) then return { pattern } end
  return found
end

return setmetatable(M, {
  __index = function(_, name)
    return function(...) return run(flatten({ name, ... }, {})) end
  end,
  __call = function(_, first, ...)
    if type(first) == "table" and getmetatable(first) == nil and select("#", ...) == 0 and first[1] == nil then
      for k, v in pairs(first) do
        if settings[k] == nil then error(("sh: unknown setting '%s' (known: abort)"):format(tostring(k)), 2) end
        settings[k] = v
      end
      local copy = {}
      for k, v in pairs(settings) do copy[k] = v end
      return copy
    end
    return run(flatten({ first, ... }, {}))
  end,
})
