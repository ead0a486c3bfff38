"""Fan-out of one command to many hosts with parallel-ssh; prints the wall time."""
import sys, time
from pssh.clients import ParallelSSHClient

port, user, key, known_hosts, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
hosts = sys.argv[6:]
start = time.monotonic()
client = ParallelSSHClient(hosts, user=user, port=port, pkey=key, pool_size=len(hosts), allow_agent=False)
output = client.run_command(command)
client.join(output)
assert all(o.exit_code == 0 for o in output), [o.exit_code for o in output]
print(f"{time.monotonic() - start:.4f}")
