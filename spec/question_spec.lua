-- essh.question asks the person at the terminal; driven here through a real pseudo-terminal.
local lua = require "support.lua"
local shell = require "support.shell"

-- Runs `code` in a child interpreter under spec/support/terminal.py with `steps`.
local function at_terminal(steps, code)
  local command, path = lua.script(code)
  local out, status = shell.run(("python3 spec/support/terminal.py 24 80 %s -- sh -c 'stty -g; %s; stty -g'")
    :format(steps, command))
  os.remove(path)
  return out, status
end

local modes = shell.stty_modes

describe("essh.question", function()
  it("reads a secret without showing it, and gives it back", function()
    local out = at_terminal("'expect:pin: ' 'send:hunter2\\n' 'expect:got '", [[
      local answer, err = require("essh.question").secret("pin: ")
      print("got " .. tostring(answer):upper() .. " " .. tostring(err))
    ]])
    assert.matches("got HUNTER2 nil", out)
    assert.not_matches("hunter2", out)
    local m = modes(out)
    assert.equal(2, #m, out)
    assert.equal(m[1], m[2])
  end)

  it("asks a question with the answer shown as it is typed", function()
    local out = at_terminal("'expect:name: ' 'send:ada\\n' 'expect:got '", [[
      print("got " .. require("essh.question").ask("name: "))
    ]])
    assert.matches("name: ada", out)
    assert.matches("got ada", out)
  end)

  it("comes back with an interrupted error on Ctrl-C, the terminal's modes restored", function()
    local out = at_terminal("'expect:pin: ' 'kill:INT:^[^ ]*lua[^ ]* /tmp/lua_'", [[
      local answer, err = require("essh.question").secret("pin: ")
      print("answer " .. tostring(answer) .. " kind " .. tostring(err and err.kind))
    ]])
    assert.matches("answer nil kind interrupted", out)
    local m = modes(out)
    assert.equal(2, #m, out)
    assert.equal(m[1], m[2])
  end)

  it("says so when there is no terminal to ask on", function()
    local command, path = lua.script([[
      local answer, err = require("essh.question").ask("? ")
      print(tostring(answer), err.kind, err.message)
    ]])
    local out = shell.run("setsid -w " .. command .. " < /dev/null")
    os.remove(path)
    assert.matches("nil\tnot_found\tno terminal to ask on", out)
  end)
end)
