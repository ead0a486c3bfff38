-- The Lua half of the command runners (see src/command.rs): streams a command's output to
-- callbacks when the options ask for it, else makes one native call. A stdin function is read
-- whole first. `at` is the position of the options table among the arguments. With `lines`, a
-- line longer than 64 KiB reaches the callback in pieces: each but the last with `true` as a
-- second argument (the line goes on).
local type, pairs, select, concat = type, pairs, select, table.concat
local unpack = table.unpack or unpack
return function(native)
  local plain, start, next_batch, finish, at = native.plain, native.start, native.next_batch, native.finish, native.at
  return function(...)
    local options = select(at, ...)
    if type(options) ~= "table" then return plain(...) end
    local args = { n = select("#", ...), ... }
    if type(options.stdin) == "function" then
      local chunks = {}
      for chunk in options.stdin do chunks[#chunks + 1] = chunk end
      local copy = {}
      for k, v in pairs(options) do copy[k] = v end
      copy.stdin = concat(chunks)
      options = copy
      args[at] = copy
    end
    local on_stdout, on_stderr = options.on_stdout, options.on_stderr
    if not on_stdout and not on_stderr then return plain(unpack(args, 1, args.n)) end
    local stream = start(unpack(args, 1, args.n))
    while true do
      local batch = next_batch(stream)
      if not batch then break end
      for i = 1, #batch, 2 do
        local code = batch[i]
        local callback = (code == 1 or code == 3) and on_stdout or on_stderr
        if callback then callback(batch[i + 1], code > 2 or nil) end
      end
    end
    return finish(stream)
  end
end
