"""Fan-out of one command to many hosts with Fabric's ThreadingGroup; prints the wall time."""
import sys, time
from fabric import ThreadingGroup

port, user, key, known_hosts, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
hosts = sys.argv[6:]
start = time.monotonic()
group = ThreadingGroup(*hosts, user=user, port=port,
                       connect_kwargs={"key_filename": key, "allow_agent": False, "look_for_keys": False})
for conn in group:
    conn.client.load_host_keys(known_hosts)
results = group.run(command, hide=True)
assert all(r.exited == 0 for r in results.values())
group.close()
print(f"{time.monotonic() - start:.4f}")
