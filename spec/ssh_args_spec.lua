-- ssh(1)'s command-line options as the ssh_config settings they stand for, as `essh HOST -A ...`
-- and a task's ssh_options read them; compared with what OpenSSH's own `ssh -G` makes of them.
local ssh_args = require "essh.ssh_args"
local shell = require "support.shell"

describe("ssh's options", function()
  it("become ssh_config settings: switches, values (attached or not), bundles, -o, repeated forwards", function()
    local options, next_word = ssh_args.take({ "-A", "-p2222", "-l", "deploy", "-L", "8080:db:5432",
      "-L", "127.0.0.1:8081:[::1]:80", "-R", "9000:localhost:22", "-tt", "-o", "ServerAliveInterval=5",
      "-oCompression yes", "-4C", "-i", "k1", "-i", "k2", "host", "-x" })
    assert.equal(20, next_word)
    assert.same({
      ForwardAgent = "yes", Port = "2222", User = "deploy", LocalForward = { "8080 db:5432", "127.0.0.1:8081 [::1]:80" },
      RemoteForward = { "9000 localhost:22" }, RequestTTY = "force", ServerAliveInterval = "5", Compression = "yes",
      AddressFamily = "inet", IdentityFile = { "k1", "k2" },
    }, options)
  end)

  it("keep the first value of a keyword, as ssh's command line does", function()
    assert.same({ Port = "1", RequestTTY = "yes" }, ssh_args.parse { "-p", "1", "-p", "2", "-t" })
  end)

  it("name the options essh cannot act on, and a missing value", function()
    local function usage(list)
      local ok, err = pcall(ssh_args.parse, list)
      assert.is_false(ok)
      return err.usage
    end
    assert.matches("ssh option %-f %(go to the background%) is not supported", usage { "-f" })
    assert.matches("ssh option %-W", usage { "-W", "h:1" })
    assert.matches("ssh option %-p needs a value", usage { "-p" })
    assert.matches("expected Keyword=value", usage { "-o", "=x" })
    assert.matches("not an ssh option", usage { "-A", "word" })
  end)

  it("mean what OpenSSH makes of them (ssh -G as the oracle)", function()
    if not shell.sh("command -v ssh >/dev/null") then return end
    local argv = { "-A", "-p", "2222", "-l", "deploy", "-L", "8080:db:5432", "-C", "-o", "ServerAliveInterval=7" }
    local out = shell.must("ssh -F none -G " .. table.concat(argv, " ") .. " somehost 2>/dev/null")
    local options = ssh_args.parse(argv)
    local function line(keyword) return out:match("\n" .. keyword .. " ([^\n]*)") end
    assert.equal(line("forwardagent"), options.ForwardAgent)
    assert.equal(line("port"), options.Port)
    assert.equal(line("user"), options.User)
    assert.equal(line("localforward"):gsub("[%[%]]", ""), options.LocalForward[1])   -- ssh -G writes [db]
    assert.equal(line("compression"), options.Compression)
    assert.equal(line("serveraliveinterval"), options.ServerAliveInterval)
  end)
end)
