-- make bench-aws: the aws module against moto (request authentication on), beside boto3 and the
-- AWS CLI in the same run: describeInstances over 2,000 instances (every page) and S3 put and
-- get of a 256 MiB file. essh and boto3 are timed in-process (the client made beforehand), the
-- AWS CLI as the command users run. Best of BENCH_RUNS (default 3).
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = "build/lua54/?.so;" .. package.cpath
local emulator = require "support.aws"
local shell = require "support.shell"
local lua = require "support.lua"

local RUNS = tonumber(os.getenv("BENCH_RUNS") or "3")
local SIZE = 256 * 1024 * 1024
local python = emulator.python
if not shell.sh(python .. " -c 'import awscli' 2>/dev/null") then
  shell.must("build/venv/bin/pip install -q awscli")
end

local moto = emulator.start(2000)
local dir = shell.must("mktemp -d /tmp/essh-aws-bench.XXXXXX"):gsub("%s+$", "")
local big = dir .. "/big"
shell.must(("head -c %d /dev/urandom > %s"):format(SIZE, big))

local function best(f)
  local b
  for _ = 1, RUNS do
    local t = f()
    if not b or t < b then b = t end
  end
  return b
end

local function essh(interpreter, op)
  local code = ([[
local aws = require("essh_native").aws
local clock = require("essh_native").runtime.monotonic
local c = aws.client(%q, { endpoint = %q, region = "us-east-1", credentials = { AccessKeyId = %q, SecretAccessKey = %q } })
local t = clock()
local r = assert(%s)
print(clock() - t, type(r) == "table" and #r or r)
]]):format(op == "describe" and "ec2" or "s3", moto.endpoint, moto.access_key, moto.secret_key,
    op == "describe" and "c:describeInstances()"
    or op == "put" and ("c:put('essh-spec', 'bench', nil, { file = %q })"):format(big)
    or ("c:get('essh-spec', 'bench', { file = %q })"):format(dir .. "/back"))
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(("package.cpath = '%s/build/%s/?.so;' .. package.cpath\n"):format(lua.checkout,
    interpreter == "luajit" and "luajit" or "lua54"), code)
  f:close()
  local out = shell.must(interpreter .. " " .. path)
  os.remove(path)
  return tonumber(out:match("^(%S+)")), out:match("%s(%S+)%s*$")
end

local function boto3(op)
  local args = op == "describe" and "describe" or op == "put" and ("put %s essh-spec bench"):format(big)
    or ("get essh-spec bench %s/back"):format(dir)
  local out = shell.must(("%s bench/peers/aws_boto3.py %s %s %s %s"):format(python, moto.endpoint, moto.access_key,
    shell.quote(moto.secret_key), args))
  return tonumber(out:match("^(%S+)")), out:match("%s(%S+)%s*$")
end

local function cli(op)
  local env = ("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL=%s"):format(
    moto.access_key, shell.quote(moto.secret_key), moto.endpoint)
  local command = op == "describe" and "ec2 describe-instances --output json > /dev/null"
    or op == "put" and ("s3 cp --quiet %s s3://essh-spec/bench"):format(big)
    or ("s3 cp --quiet s3://essh-spec/bench %s/back"):format(dir)
  local t = require("essh_native").runtime.monotonic()
  shell.must(("env %s %s -m awscli %s"):format(env, python, command))
  return require("essh_native").runtime.monotonic() - t
end

local rows = {}
for _, op in ipairs { "describe", "put", "get" } do
  local results = {}
  for _, name in ipairs { "essh (Lua 5.4)", "essh (LuaJIT)", "boto3", "AWS CLI" } do
    results[#results + 1] = { name, best(function()
      if name == "boto3" then return (boto3(op)) end
      if name == "AWS CLI" then return cli(op) end
      return (essh(name:find("JIT") and "luajit" or "lua5.4", op))
    end) }
  end
  rows[#rows + 1] = { op, results }
end

local units = { describe = { 2000, "instances/s" }, put = { SIZE / 1048576, "MiB/s" }, get = { SIZE / 1048576, "MiB/s" } }
print(("best of %d runs; moto %s on loopback with request authentication on"):format(RUNS, "5.2.5"))
for _, row in ipairs(rows) do
  local op, results = row[1], row[2]
  local amount, unit = units[op][1], units[op][2]
  local essh_rate = amount / results[1][2]
  for _, r in ipairs(results) do
    local rate = amount / r[2]
    print(("%-9s %-15s %8.3f s %10.1f %s   essh(5.4)/this %.2fx"):format(op, r[1], r[2], rate, unit, essh_rate / rate))
  end
end
moto.stop()
shell.run("rm -rf " .. dir)
