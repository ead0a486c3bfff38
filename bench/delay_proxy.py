"""A TCP forwarder that delays every byte by a fixed time each way, as a distant network does.

    python3 bench/delay_proxy.py PORT TARGET_HOST TARGET_PORT DELAY_MS LOG ADDRESS...

Listens on PORT of each ADDRESS and carries each connection to TARGET_HOST:TARGET_PORT, every
chunk DELAY_MS late (in order; a burst costs one delay, not one a chunk). Writes "ready" to LOG
once listening; then, for each connection that ends, a line "turns N": the number of times the
client spoke again after the server had (the round trips it waited, the TCP handshake aside, its
goodbye after the last answer included).
"""
import asyncio, sys, time

port, target_host, target_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
delay, log_path, addresses = int(sys.argv[4]) / 1000.0, sys.argv[5], sys.argv[6:]
log = open(log_path, "a", buffering=1)


async def pump(reader, writer, events, direction):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(deliver())
    try:
        while True:
            data = await reader.read(65536)
            if data:
                events.append(direction)
            await queue.put((time.monotonic() + delay, data or None))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()


async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
    except OSError:
        client_writer.close()
        return
    events = []
    await asyncio.gather(pump(client_reader, server_writer, events, "c"), pump(server_reader, client_writer, events, "s"),
                         return_exceptions=True)
    turns = sum(1 for a, b in zip(events, events[1:]) if a == "s" and b == "c")
    log.write(f"turns {turns}\n")
    for w in (client_writer, server_writer):
        w.close()


async def main():
    servers = [await asyncio.start_server(handle, a, port) for a in addresses]
    log.write("ready\n")
    await asyncio.gather(*(s.serve_forever() for s in servers))

asyncio.run(main())
