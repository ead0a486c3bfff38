-- The aws module against moto, the AWS API emulator, with its request authentication on: every
-- request must carry a valid SigV4 signature of a key moto issued (spec/support/aws.lua).
-- Presigned URLs are checked against botocore's signer; profiles, credential_process, the
-- container endpoint, IMDSv2 and web identity in child interpreters with their own environment.
-- Lua 5.1, 5.4 and LuaJIT run it (the emulator takes a few seconds to start).
local emulator = require "support.aws"
local lua = require "support.lua"
local shell = require "support.shell"
local fs = require "essh.fs"
local json = require "essh.json"
local crypto = require "essh.crypto"
local secret = require "essh.secret"
local aws = require "essh.aws"
local http = require "essh.http"

-- CI runs the servers' specs on Lua 5.4 (5.1 and LuaJIT pass them too: ESSH_HEAVY_SPECS=1).
local runs_here = _VERSION == "Lua 5.4" or os.getenv("ESSH_HEAVY_SPECS") == "1"

describe("aws", function()
  if not runs_here then
    it("runs on Lua 5.4 in CI", function()
      pending("the emulator's spec runs on 5.4 in CI (ESSH_HEAVY_SPECS=1 runs it here)")
    end)
    return
  end

  local moto, ec2, s3, sts, ssm, dir

  local function client(service, extra)
    local options = { endpoint = moto.endpoint, region = "us-east-1", credentials = moto.credentials }
    for k, v in pairs(extra or {}) do options[k] = v end
    return aws.client(service, options)
  end

  -- Runs `code` in a child interpreter with `env` (a string of NAME=value words) and HOME set to
  -- a directory of its own; returns its output and status.
  local function child(code, env)
    local command, path = lua.script(code)
    local out, status = shell.run(("env HOME=%s %s %s 2>&1"):format(dir, env or "", command))
    os.remove(path)
    return out, status
  end

  setup(function()
    moto = emulator.start(25)
    ec2, s3, sts, ssm = client("ec2"), client("s3"), client("sts"), client("ssm")
    dir = assert(fs.tempdir())
  end)

  teardown(function()
    if moto then moto.stop() end
    if dir then shell.run("rm -rf " .. dir) end
  end)

  describe("ec2", function()
    it("describes every instance of every page, with AWS's names, each with its own tags", function()
      local instances = assert(ec2:describeInstances { MaxResults = 10 })
      assert.equal(25, #instances)
      local ids = {}
      for _, i in ipairs(instances) do
        assert.matches("^i%-%x+$", i.InstanceId)
        assert.is_nil(ids[i.InstanceId])
        ids[i.InstanceId] = true
        assert.equal("running", i.State.Name)
        assert.equal(16, i.State.Code)
        assert.matches("^%d+%.%d+%.%d+%.%d+$", i.PrivateIpAddress)
        assert.matches("^us%-east%-1%a$", i.Placement.AvailabilityZone)
        assert.equal("t3.micro", i.InstanceType)
        -- The setup tagged the n-th instance (by id) Role=web|db and Name=<role>-n.
        assert.equal(i.Tags.Role, i.Tags.Name:match("^(%a+)%-%d+$"))
        assert.equal("prod", i.Tags.Env)
        local keys = {}
        for _, t in ipairs(i.Tags) do keys[#keys + 1] = t.Key end
        table.sort(keys)
        assert.same({ "Env", "Name", "Role" }, keys)
        assert.equal("number", type(i.AmiLaunchIndex))
        if math.type then assert.equal("integer", math.type(i.AmiLaunchIndex)) end
        assert.equal("boolean", type(i.EbsOptimized))
      end
    end)

    it("filters in AWS's form and in the short form, by id, and in another region", function()
      local short = assert(ec2:describeInstances { Filters = { ["tag:Role"] = "web", ["instance-state-name"] = "running" } })
      local long = assert(ec2:describeInstances { Filters = {
        { Name = "tag:Role", Values = { "web" } }, { Name = "instance-state-name", Values = { "running", "pending" } } } })
      assert.equal(13, #short)
      assert.equal(13, #long)
      for _, i in ipairs(short) do assert.equal("web", i.Tags.Role) end
      local two = assert(ec2:describeInstances { InstanceIds = { short[1].InstanceId, long[2].InstanceId } })
      assert.equal(2, #two)
      local west = assert(ec2:describeInstances { region = "eu-west-1" })
      assert.equal(1, #west)
      assert.equal("west-0", west[1].Tags.Name)
      local regions = assert(ec2:describeRegions())
      local names = {}
      for _, r in ipairs(regions) do names[r.RegionName] = r.Endpoint end
      assert.truthy(names["eu-west-1"])
      assert.truthy(names["us-east-1"])
    end)

    it("fails with an auth error when the signature is wrong", function()
      local bad = client("ec2", { credentials = { AccessKeyId = moto.access_key, SecretAccessKey = "not-the-secret" } })
      local none, err = bad:describeInstances()
      assert.is_nil(none)
      assert.equal("auth", err.kind)
      assert.equal(false, err.retryable)
      assert.matches("DescribeInstances", err.message)
      assert.not_matches("not%-the%-secret", err.message)
    end)

    it("retries throttling with backoff, and says so when the attempts run out", function()
      local through = client("ec2", { endpoint = moto.throttle_endpoint })
      moto.throttle(2)
      local regions, err = through:describeRegions()
      assert.is_nil(err)
      assert.truthy(#regions > 10)
      moto.throttle(5)
      local limited = client("ec2", { endpoint = moto.throttle_endpoint, max_attempts = 2 })
      local none, err2 = limited:describeRegions()
      assert.is_nil(none)
      assert.equal("Throttling", err2.details.code)
      assert.equal(2, err2.details.attempts)
      assert.is_true(err2.retryable)
      moto.throttle(0)
    end)

    it("reaches any action through call, generic and EC2's own", function()
      local vpcs = assert(ec2:call("DescribeVpcs"))
      assert.truthy(#vpcs.vpcSet >= 1)
      local users = assert(aws.call("iam", "ListUsers", nil, { endpoint = moto.endpoint, credentials = moto.credentials }))
      assert.equal("essh", users.Users[1].UserName)
      local none, err = aws.call("iam", "GetUser", { UserName = "nobody" },
        { endpoint = moto.endpoint, credentials = moto.credentials })
      assert.is_nil(none)
      assert.equal("not_found", err.kind)
      assert.equal("NoSuchEntity", err.details.code)
    end)
  end)

  describe("s3", function()
    it("puts, gets, heads, lists and deletes objects of 0 and 1 bytes under keys S3 must encode", function()
      local key = "dir/a b+c=ü~!.txt"
      assert(s3:put("essh-spec", key, "", { content_type = "text/plain", metadata = { Owner = "ops" } }))
      assert.equal("", assert(s3:get("essh-spec", key)))
      local info = assert(s3:head("essh-spec", key))
      assert.equal(0, info.ContentLength)
      assert.equal("text/plain", info.ContentType)
      assert.equal("ops", info.Metadata.owner)
      -- Last-Modified and Date: the server's clock, in HTTP's form.
      local http_date = "^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$"
      assert.matches(http_date, info.LastModified)
      assert.matches(http_date, info.Date)
      assert(s3:put("essh-spec", "one", "x"))
      assert.equal("x", assert(s3:get("essh-spec", "one")))
      assert.equal(1, assert(s3:head("essh-spec", "one")).ContentLength)
      local listed = assert(s3:list("essh-spec", { prefix = "dir/" }))
      assert.equal(1, #listed)
      assert.equal(key, listed[1].Key)
      assert.equal(0, listed[1].Size)
      assert.is_true(assert(s3:delete("essh-spec", key)))
      local none, err = s3:head("essh-spec", key)
      assert.is_nil(none)
      assert.equal("not_found", err.kind)
    end)

    it("writes and reads only the version a condition names, and says conflict otherwise", function()
      local first = assert(s3:put("essh-spec", "cond", "1", { if_none_match = "*" }))
      local _, exists = s3:put("essh-spec", "cond", "2", { if_none_match = "*" })
      assert.equal("conflict", exists.kind)
      assert.equal("PreconditionFailed", exists.details.code)
      local second = assert(s3:put("essh-spec", "cond", "2", { if_match = first.ETag }))
      local _, stale = s3:put("essh-spec", "cond", "3", { if_match = first.ETag })
      assert.equal("conflict", stale.kind)
      -- A read's head names the version it read.
      local body, head = s3:get("essh-spec", "cond", { if_match = second.ETag })
      assert.equal("2", body)
      assert.equal(second.ETag, head.ETag)
      assert.equal(1, head.ContentLength)
      assert.equal(assert(s3:head("essh-spec", "cond")).LastModified, head.LastModified)
      assert.matches("GMT$", head.Date)
      local _, changed = s3:get("essh-spec", "cond", { if_match = first.ETag })
      assert.equal("conflict", changed.kind)
      assert.has_error(function() s3:get("essh-spec", "cond", { if_match = first.ETag, file = dir .. "/x" }) end,
        "s3:get: if_match reads into memory; give it without the file option")
      assert(s3:delete("essh-spec", "cond"))
    end)

    it("lists past a page, and groups by a delimiter", function()
      for n = 1, 23 do assert(s3:put("essh-spec", ("many/%02d"):format(n), tostring(n))) end
      assert(s3:put("essh-spec", "many/sub/x", "x"))
      local all = assert(s3:list("essh-spec", { prefix = "many/", page_size = 5 }))
      assert.equal(24, #all)
      assert.equal("many/01", all[1].Key)
      assert.equal("many/sub/x", all[24].Key)
      local first = assert(s3:list("essh-spec", { prefix = "many/", page_size = 5, max = 7 }))
      assert.equal(7, #first)
      local grouped = assert(s3:list("essh-spec", { prefix = "many/", delimiter = "/" }))
      assert.equal(24, #grouped)
      assert.equal("many/sub/", grouped[24].Prefix)
    end)

    it("streams 100 MiB from a file in parts and back to a file, sha256 intact", function()
      local src, back = fs.join(dir, "big"), fs.join(dir, "big.back")
      shell.must(("head -c %d /dev/urandom > %s"):format(100 * 1024 * 1024, src))
      local put = assert(s3:put("essh-spec", "big", nil, { file = src }))
      assert.equal(13, put.parts)
      assert.matches('%-13"$', put.ETag)
      local size, head = s3:get("essh-spec", "big", { file = back })
      assert.equal(100 * 1024 * 1024, size)
      assert.equal(100 * 1024 * 1024, head.ContentLength)
      assert.equal(crypto.file_digest(src, "sha256"), crypto.file_digest(back, "sha256"))
      assert.equal(100 * 1024 * 1024, assert(s3:head("essh-spec", "big")).ContentLength)
      assert(s3:delete("essh-spec", "big"))
      os.remove(src)
      os.remove(back)
    end)

    it("splits uploads as the profile's s3 transfer settings say, under the call's own options", function()
      local cfg = fs.join(dir, "transfer.config")
      assert(fs.write(cfg, "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = 5MB\n"
        .. "  multipart_chunksize = 5MiB\n  max_concurrent_requests = 2\n"))
      local src = fs.join(dir, "twelve")
      shell.must(("head -c %d /dev/urandom > %s"):format(12 * 1024 * 1024, src))
      -- (Lua 5.1's and 5.2's assert take only a string as the message.)
      local code = ([[
local aws = require("essh_native").aws
local function must(v, err) if not v then error(tostring(err), 2) end return v end
local s3 = must(aws.client("s3", { endpoint = %q, credentials = { AccessKeyId = %q, SecretAccessKey = %q } }))
print("profile", must(s3:put("essh-spec", "twelve", nil, { file = %q })).parts)
print("option", must(s3:put("essh-spec", "twelve", nil, { file = %q, part_size = 6291456 })).parts)
]]):format(moto.endpoint, moto.access_key, moto.secret_key, src, src)
      local out, status = child(code, "AWS_CONFIG_FILE=" .. cfg)
      assert.equal(0, status, out)
      assert.matches("profile\t3\noption\t2\n", out)
      assert.not_matches("does not apply", out)
      -- A setting essh does not apply is named in a warning, once however many calls.
      assert(fs.write(cfg, "[default]\nregion = us-east-1\ns3 =\n  max_bandwidth = 50MB/s\n"))
      out, status = child(code, "AWS_CONFIG_FILE=" .. cfg)
      assert.equal(0, status, out)
      local _, warnings = out:gsub("essh does not apply s3%.max_bandwidth of the profile 'default'", "")
      assert.equal(1, warnings, out)
      assert(fs.write(cfg, "[default]\nregion = us-east-1\ns3 =\n  multipart_threshold = lots\n"))
      out = child(code, "AWS_CONFIG_FILE=" .. cfg)
      assert.matches("s3 multipart_threshold must be a size such as 8MB or 8388608, got 'lots'", out, 1, true)
      os.remove(src)
    end)

    it("presigns GET and PUT URLs that botocore signs alike and essh.http can use", function()
      assert(s3:put("essh-spec", "shared/report v1.txt", "quarterly"))
      local get_url = assert(s3:presign("essh-spec", "shared/report v1.txt", { expires = 600 }))
      local put_url = assert(s3:presign("essh-spec", "shared/upload.txt", { method = "PUT" }))
      for _, case in ipairs { { get_url, "GET" }, { put_url, "PUT" } } do
        local oracle = shell.must(("%s spec/support/presign_oracle.py %s %s %s us-east-1 %s"):format(emulator.python,
          shell.quote(case[1]), moto.access_key, shell.quote(moto.secret_key), case[2])):gsub("%s+$", "")
        assert.equal(oracle, case[1]:match("X%-Amz%-Signature=(%x+)"))
      end
      assert.matches("X%-Amz%-Expires=600", get_url)
      -- moto's authentication does not read presigned URLs: it lets these two through.
      moto.reset_auth(2)
      assert.equal("quarterly", http.get(get_url).body)
      assert.truthy(http.put(put_url, { body = "uploaded" }).ok)
      assert.equal("uploaded", assert(s3:get("essh-spec", "shared/upload.txt")))
    end)
  end)

  describe("sts and ssm", function()
    it("tells who the keys are, and assumes a role whose keys come back as secrets", function()
      local me = assert(sts:getCallerIdentity())
      assert.equal("arn:aws:iam::" .. moto.account .. ":user/essh", me.Arn)
      local role = assert(sts:assumeRole { RoleArn = moto.role_arn, RoleSessionName = "spec" })
      assert.is_true(secret.is(role.Credentials.SecretAccessKey))
      assert.equal("******", tostring(role.Credentials.SessionToken))
      local as_role = client("sts", { credentials = role.Credentials })
      assert.matches(":assumed%-role/deployer/spec$", assert(as_role:getCallerIdentity()).Arn)
    end)

    it("reads parameters, SecureStrings decrypted into secrets", function()
      local p = assert(ssm:getParameter("/app/db/password"))
      assert.equal("SecureString", p.Type)
      assert.equal("s3cr3t-pa55", secret.reveal(p.Value))
      assert.equal("******", tostring(p.Value))
      local both = assert(ssm:getParameters { "/app/name", "/app/db/password", "/app/none" })
      assert.equal(2, #both.Parameters)
      assert.same({ "/app/none" }, both.InvalidParameters)
      for _, q in ipairs(both.Parameters) do
        if q.Name == "/app/name" then assert.equal("shop", q.Value) else assert.is_true(secret.is(q.Value)) end
      end
      local none, err = ssm:getParameter("/app/missing")
      assert.is_nil(none)
      assert.equal("not_found", err.kind)
    end)
  end)

  describe("configuration and credentials, as the AWS CLI resolves them", function()
    local function script(service_call)
      return ([[
local aws = require("essh_native").aws
local config, config_err = aws.config()
if not config then return print("ERR " .. tostring(config_err)) end
local result, err = %s
print(config.profile, config.region, config.credentials)
print(result and result.Arn or ("ERR " .. tostring(err)))
]]):format(service_call)
    end

    local function env_of(t)
      local words = {}
      for k, v in pairs(t) do words[#words + 1] = ("%s=%s"):format(k, shell.quote(v)) end
      table.sort(words)
      return table.concat(words, " ")
    end

    it("takes keys, region and endpoint from the environment", function()
      local out, status = child(script("aws.sts:getCallerIdentity()"), env_of {
        AWS_ACCESS_KEY_ID = moto.access_key, AWS_SECRET_ACCESS_KEY = moto.secret_key,
        AWS_DEFAULT_REGION = "eu-west-1", AWS_ENDPOINT_URL = moto.endpoint })
      assert.equal(0, status, out)
      assert.matches("default\teu%-west%-1\tthe environment\n", out)
      assert.matches(":user/essh\n", out)
    end)

    it("follows a role_arn + source_profile chain and runs a credential_process", function()
      local aws_dir = fs.join(dir, ".aws")
      assert(fs.mkdir(aws_dir, { parents = true }))
      local process = fs.join(dir, "creds.sh")
      assert(fs.write(process, ("#!/bin/sh\nprintf '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}'\n")
        :format(moto.access_key, moto.secret_key), { mode = 448 }))
      assert(fs.write(fs.join(aws_dir, "config"), ([[
[default]
region = us-east-1

[profile base]
region = us-east-1
endpoint_url = %s

[profile deploy]
role_arn = %s
source_profile = base
role_session_name = chain
region = ap-south-1
endpoint_url = %s

[profile tool]
credential_process = %s --flag "with space"
endpoint_url = %s

[profile loop-a]
role_arn = %s
source_profile = loop-b

[profile loop-b]
role_arn = %s
source_profile = loop-a
]]):format(moto.endpoint, moto.role_arn, moto.endpoint, process, moto.endpoint, moto.role_arn, moto.role_arn)))
      assert(fs.write(fs.join(aws_dir, "credentials"), ("[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n")
        :format(moto.access_key, moto.secret_key)))
      local out, status = child(script("aws.sts:getCallerIdentity()"), "AWS_PROFILE=deploy")
      assert.equal(0, status, out)
      local role = moto.role_arn:gsub("%p", "%%%0")
      assert.matches("deploy\tap%-south%-1\tthe role " .. role .. ", assumed with the profile's keys\n", out)
      assert.matches(":assumed%-role/deployer/chain\n", out)
      out, status = child(script("aws.sts:getCallerIdentity()"), "AWS_PROFILE=tool AWS_REGION=us-east-1")
      assert.equal(0, status, out)
      assert.matches("the credential_process of the profile 'tool'", out)
      assert.matches(":user/essh\n", out)
      out = child("print(select(2, require('essh_native').aws.config { profile = 'loop-a' }))")
      assert.matches("the source_profile chain loops: loop%-a %-> loop%-b %-> loop%-a", out)
      out = child("print(select(2, require('essh_native').aws.config { profile = 'missing' }))")
      assert.matches("the profile 'missing' is in neither", out)
      fs.remove(aws_dir, { recursive = true })
    end)

    it("reads the container endpoint, IMDSv2 and a web identity token", function()
      local base = { AWS_REGION = "us-east-1", AWS_ENDPOINT_URL = moto.endpoint }
      local function with(t)
        local e = {}
        for k, v in pairs(base) do e[k] = v end
        for k, v in pairs(t) do e[k] = v end
        return env_of(e)
      end
      local out, status = child(script("aws.sts:getCallerIdentity()"), with {
        AWS_CONTAINER_CREDENTIALS_FULL_URI = moto.throttle_endpoint .. "/__container",
        AWS_CONTAINER_AUTHORIZATION_TOKEN = "container-token" })
      assert.equal(0, status, out)
      assert.matches("the container credentials endpoint\n.*:user/essh\n", out)
      out, status = child(script("aws.sts:getCallerIdentity()"), with {
        AWS_EC2_METADATA_SERVICE_ENDPOINT = moto.throttle_endpoint })
      assert.equal(0, status, out)
      assert.matches("the EC2 instance metadata service\n.*:user/essh\n", out)
      local token = fs.join(dir, "token")
      assert(fs.write(token, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJlc3NoIn0.\n"))
      -- AssumeRoleWithWebIdentity is unsigned, which moto's authentication cannot read.
      moto.reset_auth(1)
      out, status = child(script("aws.sts:getCallerIdentity()"), with {
        AWS_ROLE_ARN = moto.role_arn, AWS_WEB_IDENTITY_TOKEN_FILE = token, AWS_ROLE_SESSION_NAME = "web-id" })
      assert.equal(0, status, out)
      assert.matches("assumed with a web identity token\n", out)
      assert.matches(":assumed%-role/deployer/web%-id\n", out)
      out = child(script("aws.sts:getCallerIdentity()"), with { AWS_EC2_METADATA_DISABLED = "true" })
      assert.matches("no credentials: none in the environment or the profile 'default', and instance metadata is disabled", out)
    end)
  end)

  describe("in essh", function()
    local function essh(args, files, env)
      local project = assert(fs.tempdir())
      for name, text in pairs(files) do assert(fs.write(fs.join(project, name), text)) end
      local out, status = shell.run(("cd %s && HOME=%s NO_COLOR=1 ESSH_TRUST_ALL=1 AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s"
        .. " AWS_REGION=us-east-1 AWS_ENDPOINT_URL=%s %s LUA_PATH=%s LUA_CPATH=%s %s %s/bin/essh %s 2>&1"):format(
        project, dir, moto.access_key, shell.quote(moto.secret_key), moto.endpoint, env or "", shell.quote(lua.path .. ";;"),
        shell.quote(lua.cpath .. ";;"), lua.interpreter, lua.checkout, args))
      shell.run("rm -rf " .. project)
      return out, status
    end

    it("runs the seed's task as written", function()
      local seed = [[
local aws = require "aws"
task "ec2-list" {
    script = function()
        local instances = aws.ec2:describeInstances()
        -- Process instances
        print("instances: " .. #instances)
    end
}
]]
      local out, status = essh("ec2-list", { [".esshconfig.lua"] = seed })
      assert.equal(0, status, out)
      assert.matches("instances: 25\n", out)
      local port = moto.endpoint:match("%d+$")
      out, status = essh("--allow-net=example.com ec2-list", { [".esshconfig.lua"] = seed })
      assert.not_equal(0, status)
      assert.matches("denied: net 127%.0%.0%.1:" .. port .. " %(ec2:describeInstances%)", out)
    end)

    it("defines hosts from instances that --hosts lists and --select picks", function()
      local config = [[
essh.inventory.aws {
  filters = { ["tag:Role"] = "web" },
  tags = { "tag:Role", { key = "tag:Env", prefix = "env" }, "Placement.AvailabilityZone" },
  props = { type = "InstanceType" },
  ssh = { User = "ec2-user", Port = 2222 },
  cache = 300,
}
]]
      local out, status = essh("--hosts --json", { [".esshconfig.lua"] = config })
      assert.equal(0, status, out)
      local hosts = json.decode(out)
      assert.equal(13, #hosts)
      for _, h in ipairs(hosts) do
        assert.matches("^web%-%d+$", h.name)
        assert.truthy(h.tags[1] == "web" and h.tags[2] == "env_prod" and h.tags[3]:match("^us%-east%-1%a$"), json.encode(h.tags))
      end
      local cached = shell.must("ls " .. fs.join(dir, ".essh", "cache"))
      assert.matches("^aws%-%x+%.json\n$", cached)
      assert.equal("600\n", shell.must("stat -c %a " .. fs.join(dir, ".essh", "cache", (cached:gsub("%s+$", "")))))
      out, status = essh("--select env_prod --hosts", { [".esshconfig.lua"] = config })
      assert.equal(0, status, out)
      assert.matches("web%-0", out)
    end)
  end)
end)
