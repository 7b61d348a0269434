"""The SMTP door's listeners on aiosmtpd: inbound MX (RFC 5321, STARTTLS RFC 3207), submission
(RFC 6409, STARTTLS) and submissions (RFC 8314, implicit TLS), LMTP (RFC 2033) on a port or a Unix
socket, and the outbound delivery worker. aiosmtpd owns the dialogue; the handlers decide.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP

from postroom.context import ServerContext
from postroom.listen import BACKLOG, bound_port, listen_socket
from postroom.smtp.delivery import DeliveryWorker
from postroom.smtp.inbound import InboundHandler
from postroom.smtp.lookup import make_resolvers
from postroom.smtp.submit import SubmissionHandler

log = logging.getLogger("postroom.smtp")

IDLE_TIMEOUT_SECONDS = 300      # RFC 5321 §4.5.3.2.7: at least 5 minutes waiting for a command
IDENT = "Postroom ESMTP"


@dataclass
class SMTPDoor:
    name: str = "smtp"
    ports: dict[str, int] = field(default_factory=dict)
    worker: DeliveryWorker | None = None
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    _sessions: "weakref.WeakSet[SMTP]" = field(default_factory=weakref.WeakSet)
    _socket_path: str = ""

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self.worker is not None:
            await self.worker.stop()
        if self._socket_path:
            try:
                os.unlink(self._socket_path)
            except OSError:
                pass


async def start(ctx: ServerContext) -> SMTPDoor:
    """Starts the MX listener on ``smtp.port``, submission on ``smtp.submission_port`` and
    ``smtp.submissions_port``, LMTP when ``smtp.lmtp_port`` or ``smtp.lmtp_socket`` is set, and
    the delivery worker. Port 0 binds any free port (``SMTPDoor.ports`` says which)."""
    settings = ctx.config.smtp
    loop = asyncio.get_running_loop()
    door = SMTPDoor()
    resolvers = make_resolvers(settings.dns_server)
    inbound = InboundHandler(ctx, resolvers)
    submission = SubmissionHandler(ctx)

    def factory(cls: type[SMTP], handler: object, *, starttls: bool) -> Callable[[], SMTP]:
        def make() -> SMTP:
            session = cls(handler, hostname=ctx.hostname, ident=IDENT,
                          data_size_limit=ctx.config.store.max_message_size,
                          enable_SMTPUTF8=True, decode_data=False,
                          tls_context=ctx.tls if starttls else None,
                          timeout=IDLE_TIMEOUT_SECONDS,
                          # Whether AUTH may be used is the handler's decision (per peer).
                          auth_require_tls=False, loop=loop)
            door._sessions.add(session)
            return session
        return make

    async def listen(name: str, port: int, make: Callable[[], SMTP], *, tls: bool = False
                     ) -> None:
        server = await loop.create_server(make, sock=listen_socket(ctx.config, port),
                                          backlog=BACKLOG, ssl=ctx.tls if tls else None)
        door._servers.append(server)
        door.ports[name] = bound_port(server)

    try:
        await listen("smtp", settings.port, factory(SMTP, inbound, starttls=True))
        await listen("submission", settings.submission_port,
                     factory(SMTP, submission, starttls=True))
        await listen("submissions", settings.submissions_port,
                     factory(SMTP, submission, starttls=False), tls=True)
        if settings.lmtp_port or settings.lmtp_socket:
            lmtp = InboundHandler(ctx, resolvers, lmtp=True)
            make_lmtp = factory(LMTP, lmtp, starttls=False)
            if settings.lmtp_port:
                await listen("lmtp", settings.lmtp_port, make_lmtp)
            if settings.lmtp_socket:
                path = Path(settings.lmtp_socket)
                if path.is_socket():
                    path.unlink()            # left behind by a process that did not stop
                door._servers.append(await loop.create_unix_server(make_lmtp, str(path)))
                door._socket_path = str(path)
        door.worker = DeliveryWorker(ctx.store, ctx.config, resolvers, ctx.hostname)
        door.worker.start()
    except BaseException:
        await door.stop()
        raise
    log.info("SMTP listening on %s", ", ".join(f"{k}={v}" for k, v in door.ports.items()))
    return door
