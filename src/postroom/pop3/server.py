"""The POP3 door's sockets: a plain listener with STLS (RFC 2595 §4) and an implicit-TLS one
(RFC 8314), each connection driving a ``protocol.Session`` and doing its effects against the
store and the authenticator. The delete policy, applied in the UPDATE state, is in ``policy``.
Bytes come and go through ``stream.LineStream``, which answers what needs no store call as it
arrives (``_Connection._answer_here``); the rest is done by the connection's task.

Several POP3 sessions may hold the same maildrop at once (as in Dovecot): each one's message
numbers are a snapshot taken at login, so they cannot disturb each other, and RFC 1939 §8's
exclusive lock (and its [IN-USE] code) is not needed.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Sequence

from postroom.auth.sasl import AuthFailed, UnknownMechanism
from postroom.context import ServerContext
from postroom.listen import BACKLOG, bound_port, listen_socket, stop_serving
from postroom.log import connection_logger
from postroom.pop3 import protocol
from postroom.pop3.policy import apply_delete_policy
from postroom.pop3.protocol import (Authenticate, LineTooLong, Login, Maildrop, Reply,
                                    Retrieve, SaslCancelled, Security, Session, StartTLS, Update)
from postroom.pop3.stream import ANSWERED, EOF, TIMEOUT, LineStream
from postroom.store.api import Account, Mailbox, NotFound, StoreError, Subscription

log = logging.getLogger("postroom.pop3")

# Messages whose blob addresses one RETR reads ahead.
READ_AHEAD = 256
# Clients download in order (RETR 1, 2, 3 ...): a RETR whose body was not read ahead reads its
# own and the next ones', up to these bounds (memory per session), in one hop off the loop.
BODIES_AHEAD = 32
BODY_BYTES_AHEAD = 256 * 1024


class _NotBase64(Exception):
    pass


class _Closed(Exception):
    """The client went away, or the session must end: stop without entering UPDATE."""


@dataclass
class Pop3Door:
    name: str = "pop3"
    ports: dict[str, int] = field(default_factory=dict)
    _servers: list[asyncio.Server] = field(default_factory=list)
    _tasks: set[asyncio.Task] = field(default_factory=set)

    async def stop(self) -> None:
        # A connection stopped here is a dropped one: nothing it marked deleted is applied.
        await stop_serving(self._servers, self._tasks)


async def start(ctx: ServerContext) -> Pop3Door:
    """Listens on ``pop3.port`` (plain, STLS) and ``pop3.tls_port`` (implicit TLS)."""
    door = Pop3Door()
    settings = ctx.config.pop3
    bind = ctx.config.server.bind

    loop = asyncio.get_running_loop()

    def protocol(implicit_tls: bool):
        def start_session(stream: LineStream) -> None:
            task = loop.create_task(_serve(ctx, stream, implicit_tls))
            door._tasks.add(task)
            task.add_done_callback(door._tasks.discard)
        return lambda: LineStream(settings.max_line_length, start_session)

    plain = await loop.create_server(protocol(False),
                                     sock=listen_socket(ctx.config, settings.port),
                                     backlog=BACKLOG)
    secure = await loop.create_server(protocol(True),
                                      sock=listen_socket(ctx.config, settings.tls_port),
                                      backlog=BACKLOG, ssl=ctx.tls)
    door._servers = [plain, secure]
    door.ports = {"pop3": bound_port(plain), "pop3s": bound_port(secure)}
    log.info("POP3 listening on %s ports %s", bind, door.ports)
    return door


async def _serve(ctx: ServerContext, stream: LineStream, implicit_tls: bool) -> None:
    try:
        await _Connection(ctx, stream, implicit_tls).run()
    except asyncio.CancelledError:
        # The door is stopping. Not re-raised: the connection simply ends.
        pass


class _Connection:
    def __init__(self, ctx: ServerContext, stream: LineStream, implicit_tls: bool) -> None:
        self.ctx = ctx
        self.settings = ctx.config.pop3
        self.stream = stream
        self.tls = implicit_tls
        peer = stream.transport.get_extra_info("peername") if stream.transport else None
        self.peer_ip: str = peer[0] if isinstance(peer, tuple) else ""
        self.session = Session(self._security(), hostname=ctx.hostname,
                               max_bad_commands=self.settings.max_bad_commands)
        self.account: Account | None = None
        self.mailbox: Mailbox | None = None
        self.log = connection_logger("pop3", self.peer_ip)
        # The maildrop snapshot's uids (the store's shared, read-only listing), its blob
        # addresses (and whether each is ready for the wire as it is), read a batch ahead at
        # the first RETR of a batch, and the mailbox's uids now (ascending; None while nothing
        # changed since login): refreshed only when the store says the account changed, so
        # most RETRs cost no store round trip.
        self.uids: Sequence[int] = ()
        self.blobs: dict[int, tuple[str, bool]] = {}
        self.bodies: dict[int, bytes] = {}
        self.present: Sequence[int] | None = None
        self.changes: Subscription | None = None
        self._stale = False      # the account changed since ``present`` was read
        # The next bodies, read in the background once half of those read ahead are served
        # (_keep_ahead): how many the last read brought, up to which message, and the read.
        self._window = 0
        self._ahead_to = 0
        self._addressed = (0, -1)    # message numbers the last _read_ahead asked for
        self._prefetch: asyncio.Task | None = None

    def _log_command(self, line: bytes, reply: bytes) -> None:
        # The verb and the outcome only: never an argument (PASS, AUTH data) or content.
        if self.log.isEnabledFor(logging.INFO):
            verb = line.split(b" ", 1)[0].strip()[:12].decode("ascii", "replace").upper()
            self.log.info("%s %s", verb or "(empty)", reply[:4].decode("ascii", "replace").strip())

    def _security(self) -> Security:
        auth = self.ctx.auth
        return Security(tls=self.tls,
                        plaintext_allowed=auth.plaintext_allowed(tls=self.tls,
                                                                 peer_ip=self.peer_ip),
                        mechanisms=auth.mechanisms(tls=self.tls, peer_ip=self.peer_ip),
                        stls_available=self.ctx.tls is not None)

    async def run(self) -> None:
        try:
            self.log.info("connect tls=%s", self.tls)
            await self._send(self.session.greeting())
            while True:
                line, effect = await self._next(self._answer_here)
                if effect is None:
                    effect = self.session.receive(line)
                if isinstance(effect, Reply):
                    reply = effect
                elif isinstance(effect, Retrieve):
                    reply = await self._retrieve(effect)
                elif isinstance(effect, Login):
                    reply = await self._login(effect)
                elif isinstance(effect, Authenticate):
                    reply = await self._authenticate(effect)
                elif isinstance(effect, StartTLS):
                    self._log_command(line, effect.reply)
                    await self._start_tls(effect)
                    continue
                elif isinstance(effect, Update):
                    reply = await self._update(effect)
                else:
                    continue
                self._log_command(line, reply.data)
                await self._send(reply)
        except _Closed:
            pass
        except (ConnectionError, ssl.SSLError) as e:
            log.debug("pop3 connection from %s lost: %s", self.peer_ip, e)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A bug must cost one connection, not the door.
            log.exception("pop3 session from %s failed", self.peer_ip)
        finally:
            if self.changes is not None:
                self.changes.close()
            if self._prefetch is not None:
                self._prefetch.cancel()
            self.stream.close()

    def _answer_here(self, line: bytes) -> object:
        """Runs in the stream's data_received: answers the line at once when that needs no
        store call (most commands, and RETR of a body read ahead); else hands the effect to
        the task."""
        effect = self.session.receive(line)
        if isinstance(effect, Reply) and not effect.close:
            reply: Reply | None = effect
        elif isinstance(effect, Retrieve):
            reply = self._retrieve_now(effect)
        else:
            reply = None
        if reply is None:
            return line, effect
        self._log_command(line, reply.data)
        self.stream.write(reply.data, *reply.more)
        return ANSWERED

    # -- I/O

    async def _send(self, reply: Reply) -> None:
        if reply.data:
            self.stream.write(reply.data, *reply.more)
            # Waits only when the transport is over its high-water mark, so pipelined
            # commands (RFC 2449 PIPELINING) cost no round trip, and a slow reader bounds
            # memory; a client that stops reading altogether is dropped like an idle one.
            await self._drain()
        if reply.close:
            raise _Closed()

    async def _drain(self) -> None:
        try:
            async with asyncio.timeout(self.settings.idle_timeout_seconds):
                await self.stream.drain()
        except TimeoutError:
            raise _Closed() from None

    async def _next(self, answer_here=None) -> tuple[bytes, object]:
        """(line, effect): effect is None when the line is still to be given to the session."""
        while True:
            try:
                got = await self.stream.next_line(answer_here,
                                                  self.settings.idle_timeout_seconds)
            except LineTooLong:
                await self._send(self.session.line_too_long())
                continue
            if got is ANSWERED:         # answered, but the client is not reading: wait
                await self._drain()
                continue
            if got is TIMEOUT:
                await self._send(self.session.timed_out())
                raise _Closed()
            if got is EOF:
                raise _Closed()
            if isinstance(got, tuple):
                return got
            return got, None

    # -- effects

    async def _start_tls(self, effect: StartTLS) -> None:
        self.stream.write(effect.reply)
        # RFC 2595 §4: anything pipelined behind STLS was sent in the clear; it is dropped.
        # (start_tls stops reading before anything else runs, so nothing slips in after.)
        self.stream.lines.clear()
        loop = asyncio.get_running_loop()
        self.stream.transport = await loop.start_tls(self.stream.transport, self.stream,
                                                     self.ctx.tls, server_side=True)
        self.tls = True
        self.session.tls_started(self._security())

    async def _login(self, effect: Login) -> Reply:
        try:
            account = await self.ctx.auth.login(effect.username, effect.password,
                                                peer_ip=self.peer_ip, tls=self.tls)
        except AuthFailed as e:
            return self.session.login_failed(e.reason, temporary=e.temporary)
        return await self._open_maildrop(account)

    async def _authenticate(self, effect: Authenticate) -> Reply:
        """The SASL exchange of RFC 5034 §4, continuation by continuation."""
        try:
            exchange = self.ctx.auth.sasl(effect.mechanism, peer_ip=self.peer_ip, tls=self.tls)
            response = effect.initial
            while True:
                step = await exchange.step(response)
                if step.account is not None:
                    if step.challenge is not None:
                        # RFC 5034 §4: additional data with success goes out as a last
                        # continuation, answered by an empty line, before +OK.
                        await self._send(Reply(protocol.sasl_challenge(step.challenge)))
                        if await self._sasl_response() != b"":
                            return self.session.sasl_aborted("Expected an empty response")
                    return await self._open_maildrop(step.account)
                await self._send(Reply(protocol.sasl_challenge(step.challenge or b"")))
                response = await self._sasl_response()
        except UnknownMechanism:
            return self.session.sasl_aborted(f"Unsupported mechanism {effect.mechanism}")
        except SaslCancelled:
            return self.session.sasl_aborted("Authentication cancelled")
        except _NotBase64:
            return self.session.sasl_aborted("Invalid base64 in the response")
        except AuthFailed as e:
            return self.session.login_failed(e.reason, temporary=e.temporary)

    async def _sasl_response(self) -> bytes:
        line, _ = await self._next()
        try:
            return protocol.decode_sasl(line.rstrip(b"\r\n"))
        except ValueError:
            raise _NotBase64() from None

    async def _open_maildrop(self, account: Account) -> Reply:
        store = self.ctx.store
        try:
            mailbox = await store.get_mailbox(account.id, self.settings.mailbox)
            if mailbox is None:
                log.warning("pop3: %s has no mailbox %r", account.email, self.settings.mailbox)
                return self.session.maildrop_unavailable("No maildrop for this account",
                                                         temporary=False)
            self.changes = store.notifier.subscribe(account.id)
            self.changes.on_change(self._mark_stale)
            # Uids and sizes alone, shared while the mailbox is unchanged: a login lists, RETR
            # reads.
            listing = await store.visible_sizes(account.id, mailbox.id)
        except StoreError:
            log.exception("pop3: cannot open the maildrop of %s", account.email)
            return self.session.maildrop_unavailable("Cannot open the maildrop now",
                                                     temporary=True)
        self.account, self.mailbox = account, mailbox
        self.log.account = account.email
        self.uids = listing.uids
        log.info("pop3 login %s ip=%s tls=%s messages=%d", account.email, self.peer_ip,
                 self.tls, len(listing.uids))
        return self.session.logged_in(Maildrop(mailbox.uidvalidity, listing.uids, listing.sizes,
                                               listing.total))

    def _mark_stale(self) -> None:
        self._stale = True

    def _retrieve_now(self, effect: Retrieve) -> Reply | None:
        """RETR/TOP's answer when it needs no store call; None when it does."""
        if self._stale:
            return None
        if self.present is not None and not _holds(self.present, effect.uid):
            return self.session.message_gone()
        known = self.blobs.get(effect.uid)
        if known is None or effect.uid not in self.bodies:
            return None
        raw = self.bodies.pop(effect.uid)
        self._keep_ahead()
        return self.session.message(raw, effect.size, effect.body_lines, known[1])

    def _keep_ahead(self) -> None:
        """Once half the bodies read ahead are served, reads the next ones in the background,
        so a client downloading in order seldom waits for the store."""
        maildrop = self.session.maildrop
        if self._prefetch is not None or maildrop is None or self._ahead_to >= len(maildrop) \
                or 2 * len(self.bodies) > self._window:
            return
        self._prefetch = asyncio.ensure_future(self._read_next(self._ahead_to + 1))

    async def _read_next(self, number: int) -> None:
        try:
            if self.uids[number - 1] not in self.blobs and not self._gone(number):
                await self._read_ahead(number)
            await self._read_bodies_ahead(number, replace=False)
        except (StoreError, FileNotFoundError, KeyError):
            pass    # a RETR that needs one of them reads it itself, and answers the error
        finally:
            self._prefetch = None

    async def _retrieve(self, effect: Retrieve) -> Reply:
        assert self.account is not None and self.mailbox is not None
        store = self.ctx.store
        try:
            # An IMAP client may have expunged it meanwhile: the snapshot is checked against
            # the store whenever the account changed.
            if self._stale:
                self._stale = False
                self.present = await store.uids(self.account.id, self.mailbox.id)
            if self.present is not None and not _holds(self.present, effect.uid):
                return self.session.message_gone()
            if self._prefetch is not None:
                await self._prefetch
            if effect.uid not in self.blobs:
                await self._read_ahead(effect.number)
            if effect.uid not in self.blobs:
                return self.session.message_gone()
            _, wire_ready = self.blobs[effect.uid]
            raw = self.bodies.pop(effect.uid, None)
            if raw is None:
                await self._read_bodies_ahead(effect.number)
                raw = self.bodies.pop(effect.uid)
            self._keep_ahead()
        except (NotFound, FileNotFoundError):
            return self.session.message_gone()
        return self.session.message(raw, effect.size, effect.body_lines, wire_ready)

    async def _read_ahead(self, number: int) -> None:
        """The blob addresses of message ``number`` and the next ones: clients download in
        order, so one store query serves a batch of RETRs."""
        assert self.account is not None and self.mailbox is not None
        batch = self.uids[number - 1:number - 1 + READ_AHEAD]
        rows = await self.ctx.store.fetch_tuples(self.account.id, self.mailbox.id, batch,
                                                 ("blob", "wire_ready"))
        self.blobs.update((uid, (blob, bool(ready))) for uid, _, _, blob, ready in rows)
        self._addressed = (number, number + len(batch) - 1)

    def _gone(self, number: int) -> bool:
        """Whether message ``number`` is known to be expunged elsewhere: the mailbox read
        since lacks it, or its address was asked for and the store no longer had it."""
        uid = self.uids[number - 1]
        if self.present is not None and not _holds(self.present, uid):
            return True
        lo, hi = self._addressed
        return lo <= number <= hi and uid not in self.blobs

    async def _read_bodies_ahead(self, number: int, replace: bool = True) -> None:
        """Message ``number``'s body, and the next ones' within the bounds, into self.bodies
        (in place of those there, or besides them)."""
        maildrop = self.session.maildrop
        assert maildrop is not None
        if replace:
            self.bodies.clear()
        wanted: list[tuple[int, int]] = []
        total = 0
        last = number
        for n in range(number, min(number + BODIES_AHEAD, len(maildrop) + 1)):
            uid, size = maildrop.uids[n - 1], maildrop.sizes[n - 1]
            if self._gone(n):
                last = n
                continue        # expunged elsewhere: its RETR says so, nothing to read
            if wanted and (total + size > BODY_BYTES_AHEAD or uid not in self.blobs):
                break
            wanted.append((uid, size))
            total += size
            last = n
        bodies = await self.ctx.store.read_blobs([(self.blobs[uid][0], 0, None)
                                                  for uid, _ in wanted])
        self.bodies.update(zip((uid for uid, _ in wanted), bodies))
        self._window = len(wanted)
        self._ahead_to = last

    async def _update(self, effect: Update) -> Reply:
        assert self.account is not None and self.mailbox is not None
        if not effect.uids:
            return self.session.updated()
        try:
            await apply_delete_policy(self.ctx, self.account, self.mailbox, effect.uids)
        except StoreError as e:
            log.exception("pop3: UPDATE failed for %s", self.account.email)
            return self.session.updated(type(e).__name__)
        return self.session.updated()


def _holds(ascending: Sequence[int], uid: int) -> bool:
    i = bisect_left(ascending, uid)
    return i < len(ascending) and ascending[i] == uid
