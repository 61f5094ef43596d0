# Holds COUNT TCP connections to an echo server open at once and checks that each one echoes its
# own bytes, twice: once as it opens and again when all are open. Then it prints one JSON line
# ({"held": n, "failed": n, "failures": [...]}), waits for its stdin to close, closes every
# connection (FIN), and prints {"closed": n}. Used by the capacity e2e test, directly through
# SOCKS5 (`socks=HOST:PORT`) or under `tp run` (`direct`: plain connect(), which tp run's
# LD_PRELOAD library carries). Raises its own soft file limit to the hard one.
import asyncio
import json
import resource
import socket
import sys

CONNECTS_IN_FLIGHT = 256
ECHO_TIMEOUT_S = 60


async def socks_connect(proxy_host, proxy_port, host, port):
    reader, writer = await asyncio.open_connection(proxy_host, proxy_port)
    writer.write(b"\x05\x01\x00")
    if await reader.readexactly(2) != b"\x05\x00":
        raise OSError("SOCKS5 method refused")
    name = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    reply = await reader.readexactly(4)
    if reply[1] != 0:
        raise OSError(f"SOCKS5 reply {reply[1]}")
    address_bytes = {1: 4, 4: 16}.get(reply[3])
    if address_bytes is None:
        address_bytes = (await reader.readexactly(1))[0]
    await reader.readexactly(address_bytes + 2)
    return reader, writer


async def echo(reader, writer, payload):
    writer.write(payload)
    echoed = await asyncio.wait_for(reader.readexactly(len(payload)), ECHO_TIMEOUT_S)
    if echoed != payload:
        raise OSError(f"echoed {echoed!r} for {payload!r}")


async def main():
    mode, host, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if mode.startswith("socks="):
        proxy_host, proxy_port = mode[len("socks="):].rsplit(":", 1)
        opener = lambda: socks_connect(proxy_host, int(proxy_port), host, port)
    else:
        address = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
        opener = lambda: asyncio.open_connection(address, port)
    in_flight = asyncio.Semaphore(CONNECTS_IN_FLIGHT)
    held, failures = {}, []

    async def open_one(i):
        async with in_flight:
            try:
                reader, writer = await opener()
                held[i] = (reader, writer)
                await echo(reader, writer, f"connection {i} opens\n".encode())
            except Exception as error:  # every failure is counted and a few are shown
                failures.append(f"{i}: {error!r}")

    await asyncio.gather(*(open_one(i) for i in range(count)))

    async def again(i, reader, writer):
        try:
            await echo(reader, writer, f"connection {i} with {len(held)} open\n".encode())
        except Exception as error:
            failures.append(f"{i} again: {error!r}")

    await asyncio.gather(*(again(i, r, w) for i, (r, w) in held.items()))
    print(json.dumps({"held": len(held), "failed": len(failures), "failures": failures[:10]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for _, writer in held.values():
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in held.values()), return_exceptions=True)
    print(json.dumps({"closed": len(held)}), flush=True)


asyncio.run(main())
