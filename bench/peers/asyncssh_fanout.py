"""Fan-out of one command to many hosts with asyncssh; prints the wall time in seconds."""
import asyncio, sys, time
import asyncssh

async def one(host, port, user, key, known_hosts, command):
    async with asyncssh.connect(host, port=port, username=user, client_keys=[key],
                                known_hosts=known_hosts, agent_path=None) as conn:
        result = await conn.run(command)
        return result.exit_status

async def main():
    port, user, key, known_hosts, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    hosts = sys.argv[6:]
    start = time.monotonic()
    codes = await asyncio.gather(*(one(h, port, user, key, known_hosts, command) for h in hosts))
    assert all(c == 0 for c in codes), codes
    print(f"{time.monotonic() - start:.4f}")

asyncio.run(main())
