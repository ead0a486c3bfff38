--- essh.ssh_args: ssh(1)'s command-line options as the ssh_config settings they stand for
--- (`-A` is ForwardAgent yes, `-p 2222` Port 2222, `-L 8080:db:5432` LocalForward, `-o K=V`),
--- for `essh HOST -A ...` and a task's `ssh_options`, as essh v3 passed them to ssh. Options that
--- have no ssh_config equivalent essh can act on are errors that name them.
local keyword_of = require("essh.host").keyword

local M = {}

-- Switches: the settings each one stands for.
local SWITCHES = {
  ["4"] = { AddressFamily = "inet" }, ["6"] = { AddressFamily = "inet6" },
  A = { ForwardAgent = "yes" }, a = { ForwardAgent = "no" }, C = { Compression = "yes" },
  g = { GatewayPorts = "yes" }, K = { GSSAPIAuthentication = "yes", GSSAPIDelegateCredentials = "yes" },
  k = { GSSAPIDelegateCredentials = "no" }, N = { SessionType = "none" }, q = { LogLevel = "QUIET" },
  T = { RequestTTY = "no" }, X = { ForwardX11 = "yes" }, x = { ForwardX11 = "no" },
  Y = { ForwardX11 = "yes", ForwardX11Trusted = "yes" }, M = { ControlMaster = "yes" },
}

-- Options taking a value: the keyword it sets (the value converted by the function, if any).
local function forward(spec)
  -- ssh's [bind:]port:host:hostport is ssh_config's "[bind:]port host:hostport".
  local head, host, port = spec:match("^(.-):(%[[^%]]+%]):(%d+)$")
  if not head then head, host, port = spec:match("^(.+):([^:]+):(%d+)$") end
  if not head then return spec end
  return head .. " " .. host .. ":" .. port
end

local VALUED = {
  b = { "BindAddress" }, B = { "BindInterface" }, c = { "Ciphers" }, D = { "DynamicForward" },
  e = { "EscapeChar" }, I = { "PKCS11Provider" }, i = { "IdentityFile" }, J = { "ProxyJump" },
  L = { "LocalForward", forward }, R = { "RemoteForward", forward }, l = { "User" }, m = { "MACs" },
  P = { "Tag" }, p = { "Port" }, S = { "ControlPath" }, w = { "Tunnel" },
}

-- Options ssh has that set no ssh_config keyword essh can apply.
local UNSUPPORTED = {
  f = "go to the background", n = "stdin from /dev/null", s = "subsystems", V = "the version of ssh",
  v = "verbosity (use --debug)", y = "syslog logging", E = "a log file", O = "control commands",
  Q = "queries", W = "stdio forwarding", G = "printing the configuration (essh -G HOST)",
  F = "a config file (essh -F FILE)",
}

-- Keywords one option may give more than once, each adding a line.
local ADDS = { IdentityFile = true, LocalForward = true, RemoteForward = true, DynamicForward = true }

local function usage(message) error({ usage = message }, 0) end

-- Records `keyword value` into `options` (first value wins, as on ssh's command line).
local function put(options, keyword, value)
  if ADDS[keyword] then
    local list = options[keyword] or {}
    list[#list + 1] = value
    options[keyword] = list
  elseif keyword == "RequestTTY" and value == "yes" and options.RequestTTY == "yes" then
    options.RequestTTY = "force"
  elseif options[keyword] == nil then
    options[keyword] = value
  end
end

--- Whether `arg` is an ssh option (a single dash and one of ssh's option letters).
function M.is_option(arg)
  local letter = type(arg) == "string" and arg:match("^%-(%w)")
  return letter ~= nil and (SWITCHES[letter] or VALUED[letter] or UNSUPPORTED[letter] or letter == "t"
    or letter == "o") ~= nil
end

--- Reads ssh options from `argv` at `i` into `options` (a table of ssh_config settings, new
--- when nil) while they are options; returns options and the index of the first other word.
--- Letters may be bundled (`-At`) and values attached (`-p2222`), as getopt reads them.
function M.take(argv, i, options)
  options = options or {}
  i = i or 1
  while i <= #argv and M.is_option(argv[i]) do
    local arg = argv[i]
    local j = 2
    while j <= #arg do
      local letter = arg:sub(j, j)
      if letter == "t" then
        put(options, "RequestTTY", "yes")
      elseif SWITCHES[letter] then
        for k, v in pairs(SWITCHES[letter]) do put(options, k, v) end
      elseif VALUED[letter] or letter == "o" then
        local value = arg:sub(j + 1)
        if value == "" then
          i = i + 1
          value = argv[i]
          if value == nil then usage(("ssh option -%s needs a value"):format(letter)) end
        end
        if letter == "o" then
          local keyword, rest = value:match("^%s*([%w]+)%s*=%s*(.-)%s*$")
          if not keyword then keyword, rest = value:match("^%s*([%w]+)%s+(.-)%s*$") end
          if not keyword then usage(("-o %s: expected Keyword=value"):format(value)) end
          put(options, keyword, rest)
        else
          local spec = VALUED[letter]
          put(options, spec[1], spec[2] and spec[2](value) or value)
        end
        break
      elseif UNSUPPORTED[letter] then
        usage(("ssh option -%s (%s) is not supported by essh"):format(letter, UNSUPPORTED[letter]))
      else
        usage(("unknown ssh option -%s in %s"):format(letter, arg))
      end
      j = j + 1
    end
    i = i + 1
  end
  return options, i
end

--- The settings of a whole list of ssh arguments (a task's ssh_options); a word that is not an
--- option is an error.
function M.parse(list)
  local options, i = M.take(list, 1)
  if list[i] ~= nil then usage(("ssh options: %s is not an ssh option"):format(list[i])) end
  return options
end

--- `host`'s ssh options with `extra` (command-line settings) first: they win over the host's,
--- and add to keywords that take several lines.
function M.merge(config, extra)
  if not extra or next(extra) == nil then return config end
  local out = {}
  for k, v in pairs(config) do out[k] = v end
  for k, v in pairs(extra) do
    local canonical = keyword_of(k) or k
    if ADDS[canonical] and out[canonical] ~= nil then
      local list = {}
      for _, item in ipairs(v) do list[#list + 1] = item end
      for _, item in ipairs(type(out[canonical]) == "table" and out[canonical] or { out[canonical] }) do
        list[#list + 1] = item
      end
      out[canonical] = list
    else
      out[canonical] = v
    end
  end
  return out
end

return M
