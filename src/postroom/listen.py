"""Listening sockets for every door, made one way: bound to ``server.bind``, port 0 meaning a
free port, and SO_REUSEPORT when ``server.workers > 1`` so that N worker processes share each
port and the kernel spreads connections over them (DESIGN.md, "Processes")."""

from __future__ import annotations

import asyncio
import socket
from typing import Iterable

from postroom.config import Config


# Connections a burst of clients may queue before accept. asyncio's start_server and
# create_server call listen() again with their own ``backlog`` (100 by default): pass this one
# to them too, or a burst of 1,000 logins overflows the queue and stalls on SYN retries.
BACKLOG = 4096


def listen_socket(config: Config, port: int, backlog: int = BACKLOG) -> socket.socket:
    """A bound, listening, non-blocking TCP socket for ``asyncio.start_server(sock=...,
    backlog=BACKLOG)``, ``loop.create_server(sock=..., backlog=BACKLOG)`` or uvicorn."""
    bind = config.server.bind
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit it (Linux): a response written in two pieces (HTTP headers,
        # then body) must not wait for the client's delayed ACK (~40 ms per request).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if config.server.workers > 1 and hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bind, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bound_port(sock_or_server) -> int:
    """The port a socket (or an asyncio Server) is bound to: how tests find port-0 listeners."""
    sock = sock_or_server.sockets[0] if hasattr(sock_or_server, "sockets") else sock_or_server
    return sock.getsockname()[1]


async def stop_serving(servers: Iterable[asyncio.Server], connections: set[asyncio.Task]) -> None:
    """Stops a door's listeners, then ends its connections (a connection ended here is a
    dropped one, to the protocol) and waits for both."""
    servers = list(servers)
    for server in servers:
        server.close()
    for task in list(connections):
        task.cancel()
    if connections:
        await asyncio.gather(*connections, return_exceptions=True)
    for server in servers:
        await server.wait_closed()
