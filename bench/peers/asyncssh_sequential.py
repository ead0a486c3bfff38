"""N sequential commands on one asyncssh connection; prints the wall time of the commands."""
import asyncio, sys, time
import asyncssh

async def main():
    host, port, user, key, known_hosts, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
    async with asyncssh.connect(host, port=port, username=user, client_keys=[key],
                                known_hosts=known_hosts, agent_path=None) as conn:
        start = time.monotonic()
        for _ in range(n):
            r = await conn.run("true")
            assert r.exit_status == 0
        print(f"{time.monotonic() - start:.4f}")

asyncio.run(main())
