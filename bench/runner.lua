-- Runner benchmark: a 3-command script task on 100 hosts with the essh DSL, against the native
-- fan-out of the same commands, pyinfra and Ansible (-f 100, pipelining, no facts), side by
-- side in one run on one throwaway sshd.   Run: make bench-runner
local bench = require "bench.fleet"
bench.python_with({ "pyinfra", "ansible-core" })
local bin = bench.venv .. "/bin/"
local sh = bench.sh

bench.start().with(function(fleet)
  local port, user, key, kh = fleet.port, fleet.user, fleet.key, fleet.known_hosts
  local out = bench.out
  local rows = {}
  local function row(name, command)
    local seconds, cpu = fleet.measure(command)
    rows[#rows + 1] = { name = name, seconds = seconds, cpu = cpu }
    io.stderr:write(("%-40s %8.3f s   sshd cpu %6.2f s\n"):format(name, seconds, cpu))
    return seconds
  end
  local env = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/lua54/?.so;;' "
  local creds = ("%d %s %s %s"):format(port, user, key, kh)

  local inventory = assert(io.open(out .. "/pyinfra_inventory.py", "w"))
  inventory:write("fleet = [\n")
  for _, h in ipairs(fleet.hosts) do
    inventory:write(("  (%q, {'ssh_port': %d, 'ssh_user': %q, 'ssh_key': %q, 'ssh_known_hosts_file': %q,"
      .. " 'ssh_strict_host_key_checking': 'yes'}),\n"):format(h, port, user, key, kh))
  end
  inventory:write("]\n")
  inventory:close()
  local ini = assert(io.open(out .. "/ansible_hosts", "w"))
  for _, h in ipairs(fleet.hosts) do
    ini:write(("%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s\n"):format(h, port, user, key))
  end
  ini:close()
  local ansible = table.concat({
    "ANSIBLE_PIPELINING=True ANSIBLE_HOST_KEY_CHECKING=True ANSIBLE_FORKS=100",
    "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_LOCAL_TEMP=" .. out .. "/ansible-tmp",
    ("ANSIBLE_SSH_ARGS='-o UserKnownHostsFile=%s -o ControlMaster=auto -o ControlPersist=1s'"):format(kh),
    bin .. "ansible-playbook -f 100 -i " .. out .. "/ansible_hosts bench/peers/ansible_play.yml",
  }, " ")

  local dsl = row("essh DSL task (lua5.4)", ("%slua5.4 bench/runner_client.lua %s 100 %s"):format(env, creds, fleet.host_list))
  local native = row("essh native fan-out (lua5.4)", ("%slua5.4 bench/ssh_client.lua fanout %s 100 %q %s")
    :format(env, creds, "uname -r; test -d /tmp; echo done", fleet.host_list))
  -- The peers' output goes to a log: their wall time is measured.
  local pyinfra = row("pyinfra " .. sh(bin .. "pyinfra --version"):match("v[%d.]+"),
    ("cd %s && ../../%spyinfra -y --parallel 100 pyinfra_inventory.py ../peers/pyinfra_deploy.py > pyinfra.log")
      :format(out, bin))
  local ansible_s = row("Ansible core " .. sh(bin .. "ansible --version"):match("core ([%d.]+)"),
    ansible .. " > " .. out .. "/ansible.log")

  print()
  print("| benchmark | essh DSL | peer | ratio (essh / peer) | target |")
  print("|---|---|---|---|---|")
  local line = "| 3-command task on 100 hosts | %.3f s | %s %.3f s | %.2fx | %s |"
  print(line:format(dsl, "native fan-out", native, dsl / native, "<= 1.2x"))
  print(line:format(dsl, "pyinfra", pyinfra, dsl / pyinfra, "<= 0.33x"))
  print(line:format(dsl, "Ansible", ansible_s, dsl / ansible_s, "<= 0.33x"))
  print()
  print("All rows (median of " .. bench.runs .. " runs):")
  for _, r in ipairs(rows) do print(("  %-40s %8.3f s   sshd cpu %6.2f s"):format(r.name, r.seconds, r.cpu)) end
end)
