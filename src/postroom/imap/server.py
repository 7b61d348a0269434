"""The IMAP door's listeners: the plain port (with STARTTLS) and the implicit-TLS port
(RFC 8314 §3.2), one :class:`~postroom.imap.session.Session` per connection, and the
per-IP and per-user connection limits from ``[imap]``."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field

from postroom.context import ServerContext
from postroom.listen import BACKLOG, bound_port, listen_socket, stop_serving
from postroom.imap.fanout import Fanout
from postroom.imap.session import Connection, Session

log = logging.getLogger("postroom.imap")


@dataclass
class IMAPDoor:
    ctx: ServerContext
    name: str = "imap"
    ports: dict[str, int] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _per_ip: Counter = field(default_factory=Counter)
    _per_user: Counter = field(default_factory=Counter)
    _sessions: set = field(default_factory=set)
    fanout: Fanout = field(default_factory=Fanout)      # IDLE reports, shared per mailbox

    def admit_user(self, account_id: int, session: Session) -> bool:
        """Counts a login; False when the user already has max_connections_per_user."""
        if self._per_user[account_id] >= self.ctx.config.imap.max_connections_per_user:
            return False
        self._per_user[account_id] += 1
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     implicit_tls: bool) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection(reader, writer, tls=implicit_tls)
        ip = conn.peer_ip
        session = None
        try:
            if self._per_ip[ip] >= self.ctx.config.imap.max_connections_per_ip:
                # RFC 9051 §7.1.5: BYE as the greeting refuses the connection.
                writer.write(b"* BYE [UNAVAILABLE] Too many connections from your address\r\n")
                await writer.drain()
                return
            self._per_ip[ip] += 1
            session = Session(self.ctx, self, conn)
            self._sessions.add(session)
            await session.run()
        except asyncio.CancelledError:
            pass  # the door is stopping
        except (ConnectionError, OSError):
            pass
        finally:
            if session is not None:
                self._sessions.discard(session)
                self._per_ip[ip] -= 1
                if not self._per_ip[ip]:
                    del self._per_ip[ip]
                if session.account is not None:
                    self._per_user[session.account.id] -= 1
                    if not self._per_user[session.account.id]:
                        del self._per_user[session.account.id]
            conn.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        await stop_serving(self._servers, self._tasks)


async def start(ctx: ServerContext) -> IMAPDoor:
    """Listens on ``imap.port`` (plain, STARTTLS) and ``imap.tls_port`` (implicit TLS); port 0
    picks a free port, read back from ``door.ports``."""
    door = IMAPDoor(ctx)
    settings = ctx.config.imap
    bind = ctx.config.server.bind
    # The stream buffer must hold a full line; literals are read in pieces.
    limit = max(settings.max_line_length + 1024, 1 << 16)

    async def plain(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await door._serve(r, w, False)

    async def secure(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await door._serve(r, w, True)

    s1 = await asyncio.start_server(plain, sock=listen_socket(ctx.config, settings.port),
                                    backlog=BACKLOG, limit=limit)
    s2 = await asyncio.start_server(secure, sock=listen_socket(ctx.config, settings.tls_port),
                                    backlog=BACKLOG, ssl=ctx.tls, limit=limit)
    door._servers = [s1, s2]
    door.ports = {"imap": bound_port(s1), "imaps": bound_port(s2)}
    log.info("IMAP listening on %s ports %s", bind, door.ports)
    return door
