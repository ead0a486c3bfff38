-- Finishes an HTTP response table (see src/http.rs): headers read case-insensitively, and
-- `response.json()` decodes the body.
local native = ...
local decode = native.decode
local lower = string.lower
local headers_mt = { __index = function(t, k)
  if type(k) == "string" then return rawget(t, lower(k)) end
end }
return function(r)
  setmetatable(r.headers, headers_mt)
  local body = r.body
  r.json = function() return decode(body) end
  return r
end
