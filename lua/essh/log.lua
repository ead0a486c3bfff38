--- essh.log: levelled logging. `log.info("deployed", version)` joins its arguments like
--- `print`; `log.with{ host = "web1" }` returns a logger whose lines carry those fields.
--- Text lines (coloured on a terminal unless NO_COLOR is set) or JSON lines; to stderr by
--- default, or to a file. Secrets (essh.secret) print as ******.
local native = require "essh_native"
local secret = require "essh.secret"
local inspect = require "essh.inspect"
local terminal = require "essh.terminal"

local env, json, time = native.env, native.json, native.time

local LEVELS = { debug = 10, info = 20, warn = 30, error = 40, off = 100 }
local COLOURS = { debug = 2, info = 36, warn = 33, error = 31 }

local state = {
  level = LEVELS[(env.get("ESSH_LOG_LEVEL") or "info"):lower()] or LEVELS.info,
  format = "text",
  sink = io.stderr,
  colour = nil, -- decided on first use: a terminal, and no NO_COLOR
}

local function text_of(v)
  if secret.is(v) then return secret.MASK end
  if type(v) == "table" and not (getmetatable(v) or {}).__tostring then return inspect(v, { newline = " ", indent = "" }) end
  return tostring(v)
end

local function message_of(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = text_of((select(i, ...))) end
  return table.concat(parts, " ")
end

local function use_colour()
  if state.colour == nil then
    state.colour = state.sink == io.stderr and terminal.colour(io.stderr)
  end
  return state.colour
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function emit(level, fields, ...)
  if LEVELS[level] < state.level then return end
  local message = message_of(...)
  local line
  if state.format == "json" then
    local record = { time = time.format(nil, "!%Y-%m-%dT%H:%M:%S%.3fZ"), level = level, message = message }
    for k, v in pairs(fields) do
      if record[k] == nil then record[k] = secret.is(v) and secret.MASK or v end
    end
    line = assert(json.encode(record, { sort_keys = true }))
  else
    local parts = { time.format(nil, "%H:%M:%S"), level:upper() }
    if use_colour() then parts[2] = terminal.paint(COLOURS[level], parts[2]) end
    for _, k in ipairs(sorted_keys(fields)) do parts[#parts + 1] = k .. "=" .. text_of(fields[k]) end
    parts[#parts + 1] = message
    line = table.concat(parts, " ")
  end
  state.sink:write(line, "\n")
  if state.sink ~= io.stderr then state.sink:flush() end
end

local Logger = {}
Logger.__index = Logger

local function logger(fields)
  return setmetatable({ fields = fields }, Logger)
end

for name in pairs(COLOURS) do
  Logger[name] = function(self, ...) return emit(name, self.fields, ...) end
end

--- A logger whose lines also carry `fields` (added to this logger's own).
function Logger:with(fields)
  local merged = {}
  for k, v in pairs(self.fields) do merged[k] = v end
  for k, v in pairs(fields) do merged[k] = v end
  return logger(merged)
end

local root = logger({})
local M = {}
for name in pairs(COLOURS) do
  M[name] = function(...) return emit(name, root.fields, ...) end
end

function M.with(fields) return root:with(fields) end

--- Sets the threshold: "debug", "info", "warn", "error" or "off".
function M.set_level(level)
  local n = LEVELS[tostring(level):lower()]
  if not n then error("log.set_level: unknown level '" .. tostring(level) .. "'", 2) end
  state.level = n
end

function M.get_level()
  for name, n in pairs(LEVELS) do if n == state.level then return name end end
end

--- "text" (default) or "json" (one JSON object a line: time, level, message, fields).
function M.set_format(format)
  if format ~= "text" and format ~= "json" then error("log.set_format: expected \"text\" or \"json\"", 2) end
  state.format = format
end

--- Appends to the file at `path` from now on (nil goes back to stderr).
function M.set_file(path)
  if path ~= nil then assert(require("essh_native").permissions.check("write", path, "log.set_file")) end
  if state.sink ~= io.stderr then state.sink:close() end
  if path == nil then
    state.sink = io.stderr
  else
    state.sink = assert(io.open(path, "a"))
  end
  state.colour = nil
end

--- Colour on or off (nil: decide from the terminal and NO_COLOR).
function M.set_colour(on) state.colour = on end

-- Warnings of the native modules (host key checking off, TLS verification off) are logged.
native.on_warning(function(text) emit("warn", root.fields, text) end)

return M
