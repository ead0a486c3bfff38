-- The task scheduler of the runtime (see src/runtime.rs): many Lua coroutines over the native
-- operations running on tokio.
--
-- While a task is alive, a native function that waits returns `WAIT, op` to the trampoline
-- (src/lua/trampoline.lua), which hands `op` to `settle` here: a task that can yield yields
-- `WAIT, op` to the scheduler, which resumes it with the operation's results; plain code blocks,
-- running any other tasks meanwhile. An interrupted wait resumes with `RAISE, err`, which the
-- trampoline raises. With no task alive (task_began / task_ended keep the count), the native
-- function blocks where it is called and returns its results.
local native = ...
local RAISE, WAIT = native.raise, native.wait
local wait_any, sleep_op, new_error = native.wait_any, native.sleep_op, native.new_error
local scope_get, scope_swap = native.scope_get, native.scope_swap
local task_began, task_ended = native.task_began, native.task_ended

local create, resume, yield, running, status = coroutine.create, coroutine.resume, coroutine.yield,
  coroutine.running, coroutine.status
local close_coroutine = coroutine.close
local getinfo = debug and debug.getinfo
local pcall, xpcall, select, setmetatable, next, type = pcall, xpcall, select, setmetatable, next, type
local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local PARK = {}        -- yielded by a task that arranged its own wake-up
local tasks = setmetatable({}, { __mode = "k" })   -- coroutine -> its task
local scopes = setmetatable({}, { __mode = "k" })  -- task -> its permission scope while stopped
local scoped = false   -- whether any permission scope was ever entered (before, every scope is empty)
local parked = {}      -- op id -> { op, wake(...) }
local ready, head, tail = {}, 1, 0                  -- tasks to resume, with their values
local interrupts = 0   -- Ctrl-Cs seen by the scheduler
local depth = 0        -- drives running inside tasks that could not yield (pcall on 5.1)
local MAX_DEPTH = 8    -- beyond it a wait just blocks, keeping the C stack shallow

-- Whether the running coroutine can yield here. 5.3, 5.4 and LuaJIT say so; on 5.1 and 5.2 a C
-- function between here and the coroutine's body (pcall on 5.1; table.sort, gsub, require...)
-- forbids it, and so does, on 5.1, a generic for's call of its iterator (the iterator's frame is
-- named after the loop's hidden "(for generator)" local): the wait blocks instead.
local yieldable = coroutine.isyieldable or function()
  local lvl = 3
  while true do
    local info = getinfo(lvl, native.lua51 and "Sfn" or "Sf")
    if not info then return true end
    if info.what == "C" and (native.lua51 or (info.func ~= pcall and info.func ~= xpcall)) then
      return false
    end
    if info.name == "(for generator)" then return false end
    lvl = lvl + 1
  end
end

-- The task running here, when it can yield to the scheduler.
local function current()
  local co = running()
  local task = co and tasks[co]
  if task and not task.done and yieldable() then return task end
end

local function push(task, ...)
  tail = tail + 1
  ready[tail] = { task, pack(...) }
end

local function park_op(op, wake)
  if op:park() then return wake(op:take()) end
  parked[op:id()] = { op, wake }
end

local function finish(task, ok, ...)
  if not task.done then task_ended() end
  task.done, task.ok, task.results = true, ok, pack(...)
  local joiners = task.joiners
  task.joiners = {}
  for i = 1, #joiners do joiners[i]() end
end

local function step(task, args)
  if task.done then return end
  local co = task.co
  -- A task runs in the permission scope it was started in (and keeps what it entered since);
  -- until something enters a scope, every scope is the empty one and nothing is swapped.
  local outer
  if scoped then outer = scope_swap(scopes[task]) end
  local r = pack(resume(co, unpack(args, 1, args.n)))
  if scoped then scopes[task] = scope_swap(outer) end
  if status(co) == "dead" then
    if r[1] then return finish(task, true, unpack(r, 2, r.n)) end
    return finish(task, false, r[2])
  end
  if r[2] == WAIT then
    local op = r[3]
    task.op = op
    park_op(op, function(...) task.op = nil; push(task, ...) end)
  elseif r[2] ~= PARK then
    push(task)   -- a bare coroutine.yield(): others run, then the task goes on
  end
end

local function interrupt(err)
  interrupts = interrupts + 1
  for id, entry in pairs(parked) do
    parked[id] = nil
    entry[1]:cancel()
    entry[2](RAISE, err)
  end
end

-- Runs tasks until done() holds. Raises an interrupted error after a Ctrl-C, once the tasks
-- have seen it.
local function drive(done)
  local seen = interrupts
  local last_err
  while not done() do
    if head <= tail then
      local item = ready[head]
      ready[head] = nil
      head = head + 1
      step(item[1], item[2])
    elseif next(parked) then
      local ids, err = wait_any()
      if ids then
        for i = 1, #ids do
          local entry = parked[ids[i]]
          if entry then
            parked[ids[i]] = nil
            entry[2](entry[1]:take())
          end
        end
      else
        last_err = err
        interrupt(err)
      end
    else
      error("essh runtime: nothing can run, yet the awaited work is not done (does a task wait for itself?)")
    end
  end
  if head > tail then ready, head, tail = {}, 1, 0 end
  if interrupts ~= seen then error(last_err or new_error("interrupted", "interrupted")) end
end

local function pending_tasks()
  return head <= tail or next(parked) ~= nil
end

-- Waits for a native operation: yields it in a task, blocks elsewhere.
local function settle(op)
  if current() then return yield(WAIT, op) end
  if depth >= MAX_DEPTH or not pending_tasks() then return op:wait() end
  local results
  park_op(op, function(...) results = pack(...) end)
  depth = depth + 1
  local ok, err = pcall(drive, function() return results ~= nil end)
  depth = depth - 1
  if not ok then error(err, 0) end
  return unpack(results, 1, results.n)
end

native.set_settle(settle)

-- Waits until ready() holds: parks the running task, which arm(wake) arranges to wake, or
-- drives the scheduler from plain code.
local function wait_until(is_ready, arm)
  if is_ready() then return end
  local me = current()
  if me then
    local woken = false
    arm(function()
      if not woken then woken = true; push(me) end
    end)
    yield(PARK)
  else
    drive(is_ready)
  end
end

local Task = {}
Task.__index = Task

local function spawn(fn, ...)
  if type(fn) ~= "function" and not (getmetatable(fn) or {}).__call then
    error("bad argument #1 to 'runtime.spawn' (function expected, got " .. type(fn) .. ")", 2)
  end
  local task = setmetatable({ done = false, joiners = {}, children = {} }, Task)
  task.co = create(function(...) return fn(...) end)
  tasks[task.co] = task
  task_began()
  if scoped then scopes[task] = scope_get() end
  local parent = tasks[running() or false]
  if parent then parent.children[#parent.children + 1] = task end
  push(task, ...)
  return task
end

local function outcome(task)
  if task.ok then return unpack(task.results, 1, task.results.n) end
  return nil, task.results[1]
end

function Task:wait()
  wait_until(function() return self.done end, function(wake) self.joiners[#self.joiners + 1] = wake end)
  return outcome(self)
end

-- Stops a task and the tasks it started, at their current waits.
local function cancel(task, err)
  if task.done then return end
  for _, child in ipairs(task.children) do cancel(child, err) end
  if task.op then
    parked[task.op:id()] = nil
    task.op:cancel()
    task.op = nil
  end
  if close_coroutine and status(task.co) == "suspended" then close_coroutine(task.co) end
  finish(task, false, err)
end

function Task:cancel()
  cancel(self, new_error("interrupted", "the task was cancelled"))
end

Task.__tostring = function(self) return "runtime.Task (" .. (self.done and "done" or "running") .. ")" end

local function parallel(fns, options)
  if type(fns) ~= "table" then
    error("bad argument #1 to 'runtime.parallel' (table expected, got " .. type(fns) .. ")", 2)
  end
  local n = #fns
  local limit = options and options.limit or n
  if type(limit) ~= "number" or limit < 1 then
    error("bad argument #2 to 'runtime.parallel' (limit must be a positive integer)", 2)
  end
  local results, started, finished = {}, 0, 0
  local wake
  local function launch()
    while started < n and started - finished < limit do
      started = started + 1
      local i = started
      local task = spawn(fns[i])
      task.joiners[1] = function()
        results[i] = task.ok and task.results or { n = 2, nil, task.results[1] }
        finished = finished + 1
        if finished == n then
          if wake then wake() end
        else
          launch()
        end
      end
    end
  end
  launch()
  wait_until(function() return finished == n end, function(w) wake = w end)
  return results
end

local function timeout(seconds, fn, ...)
  if type(seconds) ~= "number" then
    error("bad argument #1 to 'runtime.timeout' (number expected, got " .. type(seconds) .. ")", 2)
  end
  local task = spawn(fn, ...)
  local timer = sleep_op(seconds)
  local fired, wake = false, nil
  park_op(timer, function() fired = true; if wake then wake() end end)
  task.joiners[#task.joiners + 1] = function() if wake then wake() end end
  wait_until(function() return task.done or fired end, function(w) wake = w end)
  if not task.done then
    cancel(task, new_error("timeout", ("timed out after %g seconds"):format(seconds)))
  else
    parked[timer:id()] = nil
    timer:cancel()
  end
  return outcome(task)
end

-- pcall that keeps waits yieldable. Lua 5.1's own pcall is a C boundary: a wait under it
-- blocks (other tasks still run, but a timeout cannot stop it). Here `f` runs in a coroutine
-- of the same task, whose yields pass through to the scheduler.
local function task_pcall(f, ...)
  local me = native.lua51 and current()
  if not me then return pcall(f, ...) end
  local co = create(f)
  tasks[co] = me
  local args = pack(...)
  while true do
    local r = pack(resume(co, unpack(args, 1, args.n)))
    if status(co) == "dead" then
      tasks[co] = nil
      return unpack(r, 1, r.n)
    end
    args = pack(yield(unpack(r, 2, r.n)))
  end
end

return {
  Task = Task,
  -- permissions.enter, through this: from the first scope entered on, steps swap scopes.
  scoping = function(enter)
    return function(...)
      scoped = true
      return enter(...)
    end
  end,
  pcall = task_pcall,
  spawn = spawn,
  parallel = parallel,
  timeout = timeout,
  current = function() return tasks[running() or false] end,
}
