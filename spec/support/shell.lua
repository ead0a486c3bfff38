--- Shell commands for the specs' support code and the benchmarks, with the exit status on
--- every interpreter (Lua 5.1's popen gives none, so the shell prints it).
local M = {}

--- Runs `command`; its output (stdout and stderr) and exit status.
function M.run(command)
  local p = assert(io.popen("(" .. command .. ") 2>&1; echo \"rc=$?\""))
  local text = p:read("*a")
  p:close()
  local out, code = text:match("^(.-)rc=(%d+)%s*$")
  return out, tonumber(code)
end

--- Runs `command`; its output, or nil and the output when it fails.
function M.sh(command)
  local out, code = M.run(command)
  if code == 0 then return out end
  return nil, out
end

--- Like sh, but raises when the command fails, naming it.
function M.must(command)
  local out, err = M.sh(command)
  if not out then error("`" .. command .. "` failed: " .. tostring(err), 2) end
  return out
end

return M
