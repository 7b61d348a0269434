"""One IMAP connection: reads commands through the wire layer, checks them against the state
table, runs their handler and writes the tagged answer (RFC 9051 §2.2.2, §5.5, §7.1).

Handlers live in ``imap/commands``; this module owns the connection-wide things they share:
the output buffer, the enabled extensions, the selected-mailbox view and the autologout timer.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from typing import TYPE_CHECKING, Awaitable, Callable

from postroom.imap import state as st
from postroom.imap.args import Bad, No
from postroom.imap.selected import SelectedMailbox
from postroom.imap.wire import (NEED_DATA, Command, CommandReader, Continue, Error, Line,
                                tagged, untagged)
from postroom.log import connection_logger
from postroom.store.api import (Account, AlreadyExists, Conflict, InvalidName, NotFound,
                                QuotaExceeded, StoreError)

if TYPE_CHECKING:
    from postroom.context import ServerContext
    from postroom.imap.commands.notify import Notify
    from postroom.imap.server import IMAPDoor

log = logging.getLogger("postroom.imap")

Handler = Callable[["Session", Command], Awaitable["str | tuple[str | None, str]"]]


# A handler returns this when it wrote its tagged answer itself (STARTTLS, COMPRESS: the answer
# must go out before the stream changes).
ANSWERED = "__sent__"


class Closed(Exception):
    """The connection is gone or must be closed now."""


class Connection:
    """The byte stream under a session: asyncio streams, with TLS (STARTTLS upgrades in place)
    and COMPRESS=DEFLATE (RFC 4978: raw deflate both ways, a sync flush after each burst)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool):
        self.reader = reader
        self.writer = writer
        self.tls = tls
        self._inflate: zlib._Decompress | None = None
        self._deflate: zlib._Compress | None = None
        peer = writer.get_extra_info("peername")
        self.peer_ip = peer[0] if isinstance(peer, tuple) else "unix"

    async def read(self) -> bytes:
        data = await self.reader.read(65536)
        if self._inflate is not None and data:
            # Bound what one compressed read can expand to (a deflate bomb).
            out = self._inflate.decompress(data, 4 << 20)
            if self._inflate.unconsumed_tail:
                raise Closed("compressed input expands too much")
            return out
        return data

    def write(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.writer.write(data)

    def write_pieces(self, pieces: list[bytes]) -> None:
        """Several buffers in one write; uncompressed, the transport sends them as they are
        (one writev), without joining them into a copy first."""
        if self._deflate is not None:
            self.write(b"".join(pieces))
        else:
            self.writer.writelines(pieces)

    async def drain(self) -> None:
        await self.writer.drain()

    def backlog(self) -> int:
        """Bytes written but not yet sent; a closing connection counts as backed up."""
        if self.writer.is_closing():
            return 1 << 62
        return self.writer.transport.get_write_buffer_size()

    async def start_tls(self, context) -> None:
        await self.writer.start_tls(context)
        self.tls = True

    def start_compress(self) -> None:
        self._inflate = zlib.decompressobj(-15)
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class Session:
    def __init__(self, ctx: "ServerContext", door: "IMAPDoor", conn: Connection):
        self.ctx = ctx
        self.store = ctx.store
        self.door = door
        self.settings = ctx.config.imap
        self.conn = conn
        self.reader = CommandReader(max_line_length=self.settings.max_line_length,
                                    max_literal_size=self.settings.max_literal_size)
        self.state = st.State.NOT_AUTHENTICATED
        self.account: Account | None = None
        self.selected: SelectedMailbox | None = None
        self.enabled: set[str] = set()
        self.searchres: list[int] = []          # RFC 5182 "$"
        self.notify: Notify | None = None       # RFC 5465 state, set by NOTIFY
        self.commands_before_auth = 0
        # Output waits here as pieces (not one growing buffer) so a big literal is copied
        # once, when the pieces are joined for the socket.
        self._out: list[bytes] = []
        self._out_len = 0
        self.command: Command | None = None     # the command being answered
        self.log = connection_logger("imap", conn.peer_ip)

    # --- what handlers use ----------------------------------------------------------------------

    @property
    def account_id(self) -> int:
        assert self.account is not None
        return self.account.id

    @property
    def utf8(self) -> bool:
        """Mailbox names and quoted strings in UTF-8 (RFC 9051 §5.1, RFC 6855 §3)."""
        return "IMAP4REV2" in self.enabled or "UTF8=ACCEPT" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    def send(self, data: bytes) -> None:
        self._out.append(data)
        self._out_len += len(data)

    def send_pieces(self, pieces: list[bytes]) -> None:
        self._out.extend(pieces)
        self._out_len += sum(map(len, pieces))

    def untagged(self, text: str | bytes) -> None:
        self.send(untagged(text))

    def has_output(self) -> bool:
        return bool(self._out)

    def take_output(self) -> bytes:
        """What waits to be written, as one buffer, taken out of the session."""
        data = b"".join(self._out)
        self._out = []
        self._out_len = 0
        return data

    async def flush(self) -> None:
        if self._out:
            pieces, self._out = self._out, []
            self._out_len = 0
            self.conn.write_pieces(pieces)
        await self.conn.drain()

    async def maybe_flush(self, threshold: int = 256 * 1024) -> None:
        """Big answers (FETCH 1:*) are written in pieces so memory stays bounded."""
        if self._out_len >= threshold:
            await self.flush()

    async def read_line(self, timeout: float) -> bytes:
        """A raw line from the client (AUTHENTICATE responses, IDLE's DONE)."""
        self.reader.line_mode = True
        try:
            while True:
                ev = self.reader.next_event()
                if isinstance(ev, Line):
                    return ev.data
                if isinstance(ev, Error):
                    await self._answer_error(ev)
                    raise Closed(ev.text)
                if ev is not NEED_DATA:
                    raise Closed("unexpected event in line mode")
                await self._receive(timeout)
        finally:
            self.reader.line_mode = False

    def capabilities(self) -> list[str]:
        from postroom.imap.commands.auth import capabilities
        return capabilities(self)

    # --- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        self.log.info("connect tls=%s", self.conn.tls)
        caps = " ".join(self.capabilities())
        self.untagged(f"OK [CAPABILITY {caps}] {self.ctx.hostname} Postroom IMAP ready")
        try:
            await self.flush()
            while self.state is not st.State.LOGOUT:
                ev = self.reader.next_event()
                if ev is NEED_DATA:
                    timeout = (self.settings.auth_timeout_seconds
                               if self.state is st.State.NOT_AUTHENTICATED
                               else self.settings.idle_timeout_seconds)
                    await self._receive(timeout)
                    continue
                if isinstance(ev, Continue):
                    self.send(b"+ Ready for literal data\r\n")
                    await self.flush()
                elif isinstance(ev, Error):
                    await self._answer_error(ev)
                    if ev.fatal:
                        break
                elif isinstance(ev, Command):
                    await self._dispatch(ev)
                    # Write when nothing more is pipelined, so a burst answers in one packet.
                    if self.reader.buffered == 0 or self._out_len > 65536:
                        await self.flush()
            await self.flush()
        except Closed as e:
            log.debug("imap connection closed: %s", e)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            if self.selected is not None:
                self.selected = None
            if self.notify is not None:
                self.notify.close()
                self.notify = None
            self.conn.close()

    async def _receive(self, timeout: float) -> None:
        await self.flush()
        try:
            if self.notify is None:
                # A timeout context, not wait_for: no extra task per waiting session.
                async with asyncio.timeout(timeout):
                    data = await self.conn.read()
            else:
                data = await self._read_notifying(timeout)
        except (asyncio.TimeoutError, TimeoutError):
            # RFC 9051 §5.4: the autologout timer; say why before closing.
            self.untagged("BYE [UNAVAILABLE] Autologout; idle for too long")
            try:
                await asyncio.wait_for(self.flush(), 5)
            except Exception:
                pass
            raise Closed("autologout") from None
        except zlib.error:
            raise Closed("bad compressed data") from None
        if not data:
            raise Closed("client closed the connection")
        self.reader.receive_data(data)

    async def _read_notifying(self, timeout: float) -> bytes:
        """Reads from the client and, while no command is in progress, pushes what NOTIFY asks
        for as it happens (RFC 5465 §3). Pushes do not reset the autologout timer."""
        assert self.notify is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read = asyncio.ensure_future(self.conn.read())
        try:
            while True:
                change = asyncio.ensure_future(self.notify.wait())
                done, _ = await asyncio.wait({read, change}, timeout=deadline - loop.time(),
                                             return_when=asyncio.FIRST_COMPLETED)
                if change not in done:
                    change.cancel()
                if read in done:
                    return read.result()
                if change not in done:
                    raise asyncio.TimeoutError
                if change.result():
                    await self.push_changes()
        finally:
            if not read.done():
                # Safe: a pending StreamReader.read() loses no data when cancelled.
                read.cancel()

    async def push_changes(self) -> None:
        """Reports what NOTIFY asks for, outside a command."""
        if self.notify is not None:
            await self.notify.deliver(self)
        await self.flush()

    async def _answer_error(self, ev: Error) -> None:
        code = f"[{ev.code}] " if ev.code else ""
        if ev.tag is None:
            self.untagged(f"BAD {code}{ev.text}")
        else:
            self.send(tagged(ev.tag, ev.kind, ev.text, ev.code))
        if ev.fatal:
            self.untagged("BYE Protocol error, closing the connection")
        await self.flush()

    async def _dispatch(self, cmd: Command) -> None:
        from postroom.imap.commands import HANDLERS
        if self.state is st.State.NOT_AUTHENTICATED:
            self.commands_before_auth += 1
            if self.commands_before_auth > self.settings.max_commands_before_auth:
                self.untagged("BYE [LIMIT] Too many commands before authentication")
                self.send(tagged(cmd.tag, "NO", "Too many commands before authentication",
                                 "LIMIT"))
                self.state = st.State.LOGOUT
                return
        handler = HANDLERS.get(cmd.name)
        if handler is None or not st.known(cmd.name):
            self.send(tagged(cmd.tag, "BAD", f"Unknown command {cmd.name[:40]}"))
            return
        if not st.allowed(cmd.name, self.state):
            self.send(tagged(cmd.tag, "BAD",
                             f"{cmd.name} is not allowed in the {self.state.value} state"))
            return
        self.command = cmd
        try:
            result = await handler(self, cmd)
            if result is ANSWERED:
                return
            code, text = (None, result) if isinstance(result, str) else result
            if self.state is st.State.SELECTED and self.selected is not None:
                base = cmd.name.removeprefix("UID ")
                allow_expunge = cmd.name.startswith("UID ") or base not in st.NO_EXPUNGE_DURING
                await self.selected.report_changes(self, allow_expunge=allow_expunge)
            self.send(tagged(cmd.tag, "OK", text, code))
        except Bad as e:
            self.send(tagged(cmd.tag, "BAD", e.text, e.code))
        except No as e:
            self.send(tagged(cmd.tag, "NO", e.text, e.code))
        except NotFound as e:
            self.send(tagged(cmd.tag, "NO", str(e) or "No such mailbox", "NONEXISTENT"))
        except AlreadyExists as e:
            self.send(tagged(cmd.tag, "NO", str(e) or "Already exists", "ALREADYEXISTS"))
        except QuotaExceeded as e:
            self.send(tagged(cmd.tag, "NO", str(e) or "Quota exceeded", "OVERQUOTA"))
        except InvalidName as e:
            self.send(tagged(cmd.tag, "NO", str(e) or "Invalid mailbox name", "CANNOT"))
        except Conflict as e:
            self.send(tagged(cmd.tag, "NO", str(e) or "Not possible", "CANNOT"))
        except StoreError as e:
            log.warning("imap %s: store error: %s", cmd.name, e)
            self.send(tagged(cmd.tag, "NO", "Server error", "SERVERBUG"))
        except (Closed, ConnectionError):
            raise
        except Exception:
            log.exception("imap %s failed", cmd.name)
            self.send(tagged(cmd.tag, "NO", "Internal server error", "SERVERBUG"))
        finally:
            self.command = None
            if self.log.isEnabledFor(logging.INFO):
                self._log_outcome(cmd)

    def _log_outcome(self, cmd: Command) -> None:
        """One line per command: its name and the status it got, never its arguments."""
        prefix = cmd.tag.encode() + b" "
        status = "done"
        for piece in reversed(self._out[-4:]):
            if piece.startswith(prefix):
                status = piece[len(prefix):].split(b" ", 1)[0].decode("ascii", "replace")
                break
        self.log.info("%s %s", cmd.name, status)
