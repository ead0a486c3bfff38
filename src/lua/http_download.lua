-- http.download (see src/http.rs): one native call, or, with `on_progress`, a loop that
-- reports each update of the bytes received until the download ends.
local native = ...
local plain, start, next_update, finish = native.plain, native.start, native.next_update, native.finish
return function(url, path, options)
  local on_progress = type(options) == "table" and options.on_progress
  if not on_progress then return plain(url, path, options) end
  local job = start(url, path, options)
  while true do
    local received, total = next_update(job)
    if not received then break end
    on_progress(received, total)
  end
  return finish(job)
end
