-- The Lua half of essh_native.mdns.browse (see mdns.rs): the loop that hands each appearance
-- and departure to fn. `next(browser, wait)` waits (yielding in a task) for one event.
local native = ...
local start, next_event, stop, monotonic = native.start, native.next, native.stop, native.monotonic
local error, type, max = error, type, math.max

return function(service_type, fn, options)
  if type(fn) ~= "function" then
    error("bad argument #2 to 'mdns.browse' (function expected, got " .. type(fn) .. ")", 2)
  end
  local browser, timeout = start(service_type, options)
  if not browser then return nil, timeout end
  local deadline = timeout and monotonic() + timeout
  while true do
    local wait = deadline and max(0, deadline - monotonic())
    if wait == 0 then break end
    local event, err = next_event(browser, wait)
    if err then
      stop(browser)
      return nil, err
    end
    if not event or fn(event) == false then break end
  end
  stop(browser)
  return true
end
