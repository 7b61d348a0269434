"""The listeners every door uses: a burst of clients connecting at once is greeted, none left
stalling in SYN retries behind a short accept queue."""

from __future__ import annotations

import asyncio

from postroom.config import Config
from postroom.listen import BACKLOG, bound_port, listen_socket


async def test_a_burst_of_1000_connections_is_accepted_at_once():
    async def greet(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"* OK\r\n")
        await w.drain()
        await r.read(10)
        w.close()

    server = await asyncio.start_server(greet, sock=listen_socket(Config(), 0), backlog=BACKLOG)
    port = bound_port(server)

    async def client() -> bytes:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        line = await r.readline()
        w.close()
        return line

    try:
        # With asyncio's default backlog (100) most of these wait 1-7 s for SYN retries.
        lines = await asyncio.wait_for(asyncio.gather(*(client() for _ in range(1000))), 5)
        assert lines == [b"* OK\r\n"] * 1000
    finally:
        server.close()
        await server.wait_closed()
