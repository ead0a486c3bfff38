--- A writer that keeps what is written to it (a stand-in for io.stdout in runner specs):
--- `:text()`, `:lines([sorted])`.
return function()
  local buf = { parts = {} }
  function buf:write(...)
    for i = 1, select("#", ...) do self.parts[#self.parts + 1] = select(i, ...) end
  end
  function buf:text() return table.concat(self.parts) end
  function buf:lines(sorted)
    local out = {}
    for line in self:text():gmatch("([^\n]*)\n") do out[#out + 1] = line end
    if sorted then table.sort(out) end
    return out
  end
  return buf
end
