-- The Lua half of essh_native.watch (see watch.rs): callbacks, filters, debouncing and the
-- dispatch loop. `next_events(timeout)` waits (yielding in a task) and returns a list.
local native = ...
local add_native, remove_native, next_events = native.add, native.remove, native.next_events
local monotonic, timeout_error = native.monotonic, native.timeout_error
local error, type, pairs, next, setmetatable, tostring = error, type, pairs, next, setmetatable, tostring

local watches = {}     -- handle -> watch
local pending = {}     -- path -> { event, due, watch } for debounced watches

local function glob_to_pattern(glob)
  return "^" .. glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
end

local function basename(path) return path:match("([^/]*)/*$") end
local function dirname(path) return path:match("^(.*)/[^/]*$") or "" end

local function covers(w, path)
  if path == w.path then return true end
  if path:sub(1, #w.path + 1) ~= w.path .. "/" then return false end
  return w.recursive or dirname(path) == w.path
end

local function accepts(w, event)
  if w.filter == nil then return true end
  if type(w.filter) == "function" then return w.filter(event) end
  return basename(event.path):match(w.pattern) ~= nil
end

local Handle = {}
Handle.__index = Handle

function Handle:remove()
  if watches[self] then
    watches[self] = nil
    remove_native(self.path, self.recursive)
  end
end

local function add(path, fn, options)
  if type(path) ~= "string" then error("bad argument #1 to 'watch.add' (string expected, got " .. type(path) .. ")", 2) end
  if type(fn) ~= "function" then error("bad argument #2 to 'watch.add' (function expected, got " .. type(fn) .. ")", 2) end
  options = options or {}
  local recursive = options.recursive and true or false
  local full, err = add_native(path, recursive)
  if not full then error(tostring(err), 2) end
  local w = setmetatable({ path = full, fn = fn, recursive = recursive, filter = options.filter,
    debounce = (options.debounce_ms or 0) / 1000 }, Handle)
  if type(options.filter) == "string" then w.pattern = glob_to_pattern(options.filter) end
  watches[w] = true
  return w
end

-- Hands an event to every watch that wants it; false from a callback stops the run.
local function dispatch(event, now)
  local keep_going = true
  for w in pairs(watches) do
    if covers(w, event.path) and accepts(w, event) then
      if w.debounce > 0 then
        pending[w] = pending[w] or {}
        pending[w][event.path] = { event = event, due = now + w.debounce }
      elseif w.fn(event) == false then
        keep_going = false
      end
    end
  end
  return keep_going
end

local function flush_due(now)
  local keep_going, soonest = true, nil
  for w, paths in pairs(pending) do
    for path, p in pairs(paths) do
      if p.due <= now then
        paths[path] = nil
        if watches[w] and w.fn(p.event) == false then keep_going = false end
      elseif not soonest or p.due < soonest then
        soonest = p.due
      end
    end
    if next(paths) == nil then pending[w] = nil end
  end
  return keep_going, soonest
end

local function run(options)
  local deadline = options and options.timeout and (monotonic() + options.timeout)
  while next(watches) do
    local now = monotonic()
    local keep_going, soonest = flush_due(now)
    if not keep_going then return end
    local wait = deadline and (deadline - now)
    if soonest and (not wait or soonest - now < wait) then wait = soonest - now end
    if wait and wait < 0 then wait = 0 end
    if deadline and now >= deadline then return end
    local events = next_events(wait)
    now = monotonic()
    for i = 1, #events do
      if not dispatch(events[i], now) then return end
    end
  end
end

local function wait_for(path, options)
  local got
  local handle = add(path, function(event)
    got = event
    return false
  end)
  local timeout = options and options.timeout
  -- Only this watch may stop the run; others keep their callbacks meanwhile.
  local deadline = timeout and (monotonic() + timeout)
  while not got do
    local remaining = deadline and (deadline - monotonic())
    if remaining and remaining <= 0 then break end
    local events = next_events(remaining)
    local now = monotonic()
    for i = 1, #events do dispatch(events[i], now) end
  end
  handle:remove()
  if got then return got end
  return nil, timeout_error(("no event on %s within %g seconds"):format(path, timeout))
end

return { add = add, run = run, wait = wait_for, Handle = Handle }
