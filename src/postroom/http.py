"""The one HTTP door: an ASGI app routing by path prefix to the doors that speak HTTP (DAV now;
EAS, the web app, autodiscover and metrics later), served by uvicorn on the plain and TLS ports.

A door joins with :func:`mount` (``mount("/Microsoft-Server-ActiveSync", eas.make_app)``) before
``start``; the factory gets the ServerContext and returns an ASGI app that sees the full path.
RFC 6764 §5: ``/.well-known/caldav`` and ``/.well-known/carddav`` redirect to the DAV root.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import uvicorn

from postroom.context import ServerContext
from postroom.listen import bound_port, listen_socket

log = logging.getLogger("postroom.http")

ASGIApp = Callable[..., Awaitable[None]]
AppFactory = Callable[[ServerContext], ASGIApp]

DAV_ROOT = "/dav/"
WELL_KNOWN = {"/.well-known/caldav": DAV_ROOT, "/.well-known/carddav": DAV_ROOT}


def _dav_factory(ctx: ServerContext) -> ASGIApp:
    from postroom import dav
    return dav.make_app(ctx)


def _eas_factory(ctx: ServerContext) -> ASGIApp:
    from postroom import eas
    return eas.make_app(ctx)


def _autodiscover_factory(ctx: ServerContext) -> ASGIApp:
    from postroom.eas import autodiscover
    return autodiscover.make_app(ctx)


# prefix -> factory; longest prefix wins.
_MOUNTS: dict[str, AppFactory] = {"/dav": _dav_factory,
                                  "/Microsoft-Server-ActiveSync": _eas_factory,
                                  "/autodiscover": _autodiscover_factory,
                                  "/Autodiscover": _autodiscover_factory}


def mount(prefix: str, factory: AppFactory) -> None:
    """Registers another door's ASGI app under ``prefix`` (no trailing slash)."""
    _MOUNTS[prefix.rstrip("/")] = factory


async def _send_simple(send, status: int, headers: list[tuple[bytes, bytes]] = (),
                       body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class Router:
    """Dispatches on the path prefix; everything else is 404."""

    def __init__(self, ctx: ServerContext) -> None:
        self.apps = sorted(((p, f(ctx)) for p, f in _MOUNTS.items()),
                           key=lambda pa: -len(pa[0]))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope.get("path", "/")
        target = WELL_KNOWN.get(path.rstrip("/"))
        if target is not None:
            await _send_simple(send, 301, [(b"location", target.encode())])
            return
        for prefix, app in self.apps:
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        if path == "/" and scope.get("method") == "PROPFIND":
            # Clients that start discovery at the server root (DAVx5, Thunderbird).
            await _send_simple(send, 301, [(b"location", DAV_ROOT.encode())])
            return
        await _send_simple(send, 404, body=b"not found")


def build_app(ctx: ServerContext) -> ASGIApp:
    return Router(ctx)


def _tls_marked(app: ASGIApp) -> ASGIApp:
    async def marked(scope, receive, send):
        if scope["type"] == "http":
            scope = dict(scope, scheme="https")
            scope["postroom.tls"] = True
        await app(scope, receive, send)
    return marked


@dataclass
class HttpDoor:
    name: str = "http"
    ports: dict[str, int] = field(default_factory=dict)
    servers: list[uvicorn.Server] = field(default_factory=list)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def stop(self) -> None:
        for s in self.servers:
            s.should_exit = True
        for t in self.tasks:
            try:
                await asyncio.wait_for(t, 10)
            except (asyncio.TimeoutError, asyncio.CancelledError, Exception):
                t.cancel()


async def start(ctx: ServerContext) -> HttpDoor:
    """Starts the HTTP door on ``http.port`` (plain) and ``http.tls_port`` (TLS with ctx.tls);
    a port of 0 picks a free one. Uvicorn runs without lifespan and without its own signal
    handlers (server.py owns the process)."""
    settings = ctx.config.http
    app = build_app(ctx)
    door = HttpDoor()
    bind = ctx.config.server.bind
    for label, port, tls in (("http", settings.port, False), ("https", settings.tls_port, True)):
        if port is None or port < 0:
            continue
        sock = listen_socket(ctx.config, port)
        config = uvicorn.Config(_tls_marked(app) if tls else app, lifespan="off",
                                log_level="warning", access_log=False, server_header=False,
                                proxy_headers=False, timeout_keep_alive=30)
        config.load()
        if tls:
            config.ssl = ctx.tls
        server = uvicorn.Server(config)
        door.servers.append(server)
        door.tasks.append(asyncio.create_task(server._serve(sockets=[sock]),
                                              name=f"http-{label}"))
        door.ports[label] = bound_port(sock)
    for server, task in zip(door.servers, door.tasks):
        while not server.started:
            if task.done():
                await door.stop()
                raise OSError(f"HTTP door failed to start: {task.exception()!r}")
            await asyncio.sleep(0.01)
    log.info("HTTP listening on %s ports %s", bind, door.ports)
    return door
