-- The trampoline every native function is called through (see src/bridge/call.rs).
--
-- A native function's Rust half returns its results, `RAISE, err` (raised here, at the caller's
-- level, so positions read `script.lua:12: bad argument #1 to ...`), or `WAIT, op` for work
-- running on the tokio runtime. `settle(op)` waits for that work: it blocks, until the
-- runtime's scheduler installs its own (which yields inside tasks and runs other tasks while
-- plain code waits). Users never see a mark.
local native = ...
local RAISE, WAIT, error, level = native.raise, native.wait, native.error, native.level

local function settle(op) return op:wait() end

local function check(first, ...)
  if first == RAISE then error((...), level) end
  if first == WAIT then return check(settle(...)) end
  return first, ...
end

return {
  wrap = function(f)
    return function(...) return check(f(...)) end
  end,
  set_settle = function(fn) settle = fn end,
  -- f behind its permission check: `permitted(...)` returns nil, or the error to return instead.
  guard = function(f, permitted)
    return function(...)
      local denied = permitted(...)
      if denied ~= nil then return nil, denied end
      return f(...)
    end
  end,
}
