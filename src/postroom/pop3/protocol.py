"""The POP3 dialogue without I/O: lines in, replies and store requests out (RFC 1939).

Everything that decides what a command may do lives here: the AUTHORIZATION / TRANSACTION /
UPDATE states and the commands each allows are the table ``COMMANDS``; CAPA (RFC 2449), STLS
(RFC 2595 §4), AUTH (RFC 5034), UTF8 (RFC 6856) and the response codes of RFC 2449 §8 and
RFC 3206 are answered here. What needs the store, the authenticator or the socket (a login, a
message body, the UPDATE state's deletions, a TLS handshake) comes back to the caller as an
*effect*; the caller does it and hands the outcome back (``logged_in``, ``message`` ...), which
returns the reply. So the protocol is tested and fuzzed with plain byte strings.

Theory of operation::

    bytes --LineBuffer--> lines --Session.receive--> Reply | Login | Authenticate | StartTLS
                                                            | Retrieve | Update
"""

from __future__ import annotations

import base64
import binascii
import enum
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

import postroom

CRLF = b"\r\n"


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"        # after QUIT in TRANSACTION: deletions are applied, then the end


_A = frozenset({State.AUTHORIZATION})
_T = frozenset({State.TRANSACTION})
_AT = _A | _T


@dataclass(frozen=True, slots=True)
class CommandSpec:
    states: frozenset[State]
    min_args: int
    max_args: int
    rest_of_line: bool = False   # the argument is everything after "CMD " (spaces included)


# The whole state machine at a glance: which command is legal in which state, with how many
# arguments. A command absent here is unknown; one present but not in its state is refused.
COMMANDS: dict[str, CommandSpec] = {
    "CAPA": CommandSpec(_AT, 0, 0),                     # RFC 2449 §5
    "QUIT": CommandSpec(_AT, 0, 0),                     # RFC 1939 §6 (UPDATE from TRANSACTION)
    "NOOP": CommandSpec(_T, 0, 0),
    "USER": CommandSpec(_A, 1, 1, rest_of_line=True),   # RFC 1939 §7
    # RFC 1939 §7: "a server may treat spaces in the argument as part of the password"
    "PASS": CommandSpec(_A, 1, 1, rest_of_line=True),
    "AUTH": CommandSpec(_A, 0, 2),                      # RFC 5034 §4 (no argument: list)
    "STLS": CommandSpec(_A, 0, 0),                      # RFC 2595 §4
    "UTF8": CommandSpec(_A, 0, 0),                      # RFC 6856 §2
    "STAT": CommandSpec(_T, 0, 0),
    "LIST": CommandSpec(_T, 0, 1),
    "RETR": CommandSpec(_T, 1, 1),
    "DELE": CommandSpec(_T, 1, 1),
    "RSET": CommandSpec(_T, 0, 0),
    "TOP": CommandSpec(_T, 2, 2),
    "UIDL": CommandSpec(_T, 0, 1),
}

# RFC 2449 §8 and RFC 3206 response codes used here.
CODE_AUTH = "AUTH"            # the credentials were wrong (or plaintext is refused)
CODE_SYS_TEMP = "SYS/TEMP"    # try again later: rate-limit lock-out, store busy
CODE_SYS_PERM = "SYS/PERM"    # an administrator must act: no maildrop, broken store


# --- replies --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Reply:
    """Bytes to send. ``close``: send them, then end the connection. ``more``: pieces sent
    right after ``data`` in the same write, not copied into it (a stored message that is ready
    for the wire goes out as it is)."""
    data: bytes
    close: bool = False
    more: tuple[bytes, ...] = ()


def ok(text: str = "") -> bytes:
    return b"+OK " + text.encode() + CRLF if text else b"+OK" + CRLF


def err(text: str, code: str | None = None) -> bytes:
    # RFC 2449 §8: the code, in brackets, is the first thing after "-ERR ".
    head = f"-ERR [{code}] " if code else "-ERR "
    return (head + text).encode() + CRLF


def multiline(first: bytes, lines: Sequence[str]) -> bytes:
    """``first`` (a +OK line) then ``lines`` (none starts with "." here) and the terminator."""
    body = "".join(line + "\r\n" for line in lines).encode()
    return first + body + b".\r\n"


def wire_message(raw: bytes, body_lines: int | None = None) -> bytes:
    """The message as a multi-line response body, terminator included (RFC 1939 §3).

    Messages are stored as received, so lines may end in bare LF: every line end goes out as
    CRLF, a line starting with "." is dot-stuffed, and the last line is ended before ".".
    ``body_lines`` gives TOP's header, blank line and first n body lines (RFC 1939 §7).
    Whole-buffer bytes operations: one pass each in C, no per-line Python loop.
    """
    if raw.count(b"\n") != raw.count(b"\r\n"):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if body_lines is not None:
        raw = _top(raw, body_lines)
    if raw.startswith(b"."):
        raw = b"." + raw
    raw = raw.replace(b"\r\n.", b"\r\n..")
    if raw and not raw.endswith(CRLF):
        raw += CRLF
    return raw + b".\r\n"


def _top(raw: bytes, n: int) -> bytes:
    """Header, the blank line, and the first ``n`` body lines of a CRLF message."""
    if raw.startswith(CRLF):             # no header at all: the body starts at once
        end = 2
    else:
        end = raw.find(b"\r\n\r\n")
        if end < 0:                      # header only, no body
            return raw
        end += 4
    for _ in range(n):
        nxt = raw.find(CRLF, end)
        if nxt < 0:
            return raw
        end = nxt + 2
    return raw[:end]


# --- effects: what the I/O layer does and then reports back --------------------------------------

@dataclass(frozen=True, slots=True)
class Login:
    """USER/PASS: check these credentials, then call ``logged_in`` or ``login_failed``."""
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """AUTH: run the SASL exchange (RFC 5034 §4); ``initial`` is None when none was sent."""
    mechanism: str
    initial: bytes | None


@dataclass(frozen=True, slots=True)
class StartTLS:
    """STLS accepted: send ``reply``, then the TLS handshake, then call ``tls_started``."""
    reply: bytes


@dataclass(frozen=True, slots=True)
class Retrieve:
    """RETR/TOP: read the message, then call ``message`` (or ``message_gone``)."""
    number: int
    uid: int
    size: int                  # as LIST gave it
    body_lines: int | None     # None for RETR, n for TOP


@dataclass(frozen=True, slots=True)
class Update:
    """QUIT in TRANSACTION (RFC 1939 §6): apply the delete policy to ``uids``, then call
    ``updated``; the connection closes afterwards whatever happens."""
    uids: tuple[int, ...]


Effect = Reply | Login | Authenticate | StartTLS | Retrieve | Update


# --- the maildrop snapshot ------------------------------------------------------------------------

class MaildropMessage(NamedTuple):
    uid: int
    size: int


@dataclass
class Maildrop:
    """The messages as they were at login: numbers 1..n stay theirs for the whole session
    whatever other doors do meanwhile (RFC 1939 §5 fixes them for the session).

    ``uids`` and ``sizes`` (message n is at index n - 1) may be the store's shared listing
    (``store.api.Listing``): read-only here, so a login costs no per-message object."""
    uidvalidity: int
    uids: Sequence[int]
    sizes: Sequence[int]
    total: int = -1                                     # sum(sizes); computed when not given
    deleted: set[int] = field(default_factory=set)      # message numbers marked by DELE

    def __post_init__(self) -> None:
        if self.total < 0:
            self.total = sum(self.sizes)

    def __len__(self) -> int:
        return len(self.uids)

    def message(self, number: int) -> MaildropMessage:
        return MaildropMessage(self.uids[number - 1], self.sizes[number - 1])

    def unique_id(self, msg: MaildropMessage) -> str:
        # RFC 1939 §7: 1-70 characters in 0x21..0x7E, the same for the same message in every
        # session; UIDVALIDITY + UID is exactly that, and changes if the mailbox is rebuilt.
        return f"{self.uidvalidity:x}.{msg.uid:x}"

    def live(self) -> Iterator[tuple[int, MaildropMessage]]:
        deleted = self.deleted
        for number, (uid, size) in enumerate(zip(self.uids, self.sizes), 1):
            if number not in deleted:
                yield number, MaildropMessage(uid, size)

    def live_count_and_size(self) -> tuple[int, int]:
        gone = sum(self.sizes[n - 1] for n in self.deleted)
        return len(self.uids) - len(self.deleted), self.total - gone


class _NoSuchMessage(Exception):
    pass


# --- the session ----------------------------------------------------------------------------------

@dataclass
class Security:
    """What the authenticator says about this connection; CAPA and USER/PASS depend on it."""
    tls: bool
    plaintext_allowed: bool
    mechanisms: list[str]
    stls_available: bool        # a plain-port connection with a TLS context to upgrade to


class Session:
    """One connection's POP3 state. Feed it lines (``receive``); it returns an effect."""

    def __init__(self, security: Security, *, hostname: str = "localhost",
                 max_bad_commands: int = 20) -> None:
        self.state = State.AUTHORIZATION
        self.security = security
        self.hostname = hostname
        self.max_bad_commands = max_bad_commands
        self.maildrop: Maildrop | None = None
        self.utf8 = False
        self._user: str | None = None     # after a successful USER, until PASS
        self._bad = 0

    # -- greeting and limits

    def greeting(self) -> Reply:
        # No APOP timestamp: APOP (MD5 of a shared secret) is not offered.
        return Reply(ok(f"Postroom POP3 ready on {self.hostname}"))

    def line_too_long(self) -> Reply:
        return self._bad_command(err("Line too long"))

    def timed_out(self) -> Reply:
        # RFC 1939 §3: the autologout timer ends the session without entering UPDATE.
        return Reply(err("Autologout: idle for too long"), close=True)

    # -- input

    def receive(self, line: bytes) -> Effect:
        """One command line, with or without its line end."""
        if self.state is State.UPDATE:
            return Reply(b"", close=True)
        line = line.rstrip(b"\r\n")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return self._bad_command(err("Command is not valid UTF-8"))
        keyword, _, rest = text.partition(" ")
        name = keyword.upper()
        spec = COMMANDS.get(name)
        if spec is None:
            return self._bad_command(err("Unknown command"))
        if self.state not in spec.states:
            return self._bad_command(err(f"{name} is not allowed in the "
                                         f"{self.state.value} state"))
        if spec.rest_of_line:
            args = [rest] if rest else []
        else:
            args = rest.split(" ") if rest else []
        if not spec.min_args <= len(args) <= spec.max_args or any(a == "" for a in args):
            return self._bad_command(err(f"Wrong arguments for {name}"))
        handler = getattr(self, "_cmd_" + name.lower())
        effect = handler(args)
        if isinstance(effect, Reply) and effect.data.startswith(b"-ERR") and not effect.close:
            return self._bad_command(effect.data)
        self._bad = 0
        return effect

    def _bad_command(self, data: bytes) -> Reply:
        self._bad += 1
        if self._bad >= self.max_bad_commands:
            return Reply(data + err("Too many bad commands, closing"), close=True)
        return Reply(data)

    # -- AUTHORIZATION (RFC 1939 §4, §7; RFC 2449; RFC 2595; RFC 5034; RFC 6856)

    def capabilities(self) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                # No message is ever removed by the server on its own (RFC 2449 §6.7).
                "EXPIRE NEVER",
                # No minimum interval between logins is enforced (RFC 2449 §6.8).
                "LOGIN-DELAY 0",
                "UTF8 USER",
                f"IMPLEMENTATION Postroom-{postroom.__version__}"]
        if self.state is State.AUTHORIZATION:
            if self.security.plaintext_allowed:
                caps.append("USER")
            if self.security.mechanisms:
                caps.append("SASL " + " ".join(self.security.mechanisms))
            if self.security.stls_available and not self.security.tls:
                caps.append("STLS")
        return caps

    def _cmd_capa(self, args: list[str]) -> Effect:
        return Reply(multiline(ok("Capability list follows"), self.capabilities()))

    def _cmd_quit(self, args: list[str]) -> Effect:
        if self.state is State.TRANSACTION:
            self.state = State.UPDATE
            assert self.maildrop is not None
            return Update(tuple(self.maildrop.uids[n - 1] for n in sorted(self.maildrop.deleted)))
        return Reply(ok("Bye"), close=True)

    def _plaintext_refused(self) -> Reply | None:
        if self.security.plaintext_allowed:
            return None
        return Reply(err("Plaintext authentication is not allowed on an insecure connection; "
                         "use STLS or the TLS port", CODE_AUTH))

    def _cmd_user(self, args: list[str]) -> Effect:
        refused = self._plaintext_refused()
        if refused:
            return refused
        self._user = args[0]
        return Reply(ok("Send your password"))

    def _cmd_pass(self, args: list[str]) -> Effect:
        if self._user is None:
            return Reply(err("Send USER first"))
        refused = self._plaintext_refused()
        if refused:
            return refused
        user, self._user = self._user, None
        return Login(user, args[0])

    def _cmd_auth(self, args: list[str]) -> Effect:
        if not args:
            # Not in RFC 5034, but the RFC 1734 listing Outlook and others still send.
            return Reply(multiline(ok("Mechanisms follow"), self.security.mechanisms))
        mechanism = args[0].upper()
        if mechanism not in self.security.mechanisms:
            return Reply(err(f"Unsupported authentication mechanism {mechanism}"))
        initial: bytes | None = None
        if len(args) == 2:
            try:
                initial = decode_sasl(args[1])
            except (SaslCancelled, ValueError):
                return Reply(err("Invalid initial response", CODE_AUTH))
        self._user = None
        return Authenticate(mechanism, initial)

    def _cmd_stls(self, args: list[str]) -> Effect:
        if self.security.tls:
            return Reply(err("TLS is already active"))
        if not self.security.stls_available:
            return Reply(err("STLS is not available"))
        return StartTLS(ok("Begin TLS negotiation"))

    def _cmd_utf8(self, args: list[str]) -> Effect:
        # RFC 6856 §2: messages then go out as stored; Postroom never downgrades them anyway.
        self.utf8 = True
        return Reply(ok("UTF8 enabled"))

    # -- outcomes reported by the I/O layer

    def tls_started(self, security: Security) -> None:
        """RFC 2595 §4: after STLS the client starts over (it must re-issue CAPA)."""
        self.security = security
        self._user = None

    def logged_in(self, maildrop: Maildrop) -> Reply:
        self.state = State.TRANSACTION
        self.maildrop = maildrop
        return Reply(ok(f"Logged in: {len(maildrop)} messages ({maildrop.total} octets)"))

    def login_failed(self, reason: str, *, temporary: bool = False) -> Reply:
        if temporary:
            return self._bad_command(err(reason or "Try again later", CODE_SYS_TEMP))
        return self._bad_command(err(reason or "Authentication failed", CODE_AUTH))

    def sasl_aborted(self, reason: str) -> Reply:
        """The SASL exchange ended without a verdict on the credentials (RFC 5034 §4)."""
        return self._bad_command(err(reason))

    def maildrop_unavailable(self, reason: str, *, temporary: bool) -> Reply:
        """Authenticated, but the maildrop could not be opened: the session ends."""
        code = CODE_SYS_TEMP if temporary else CODE_SYS_PERM
        return Reply(err(reason, code), close=True)

    def message(self, raw: bytes, size: int, body_lines: int | None,
                wire_ready: bool = False) -> Reply:
        """RETR's or TOP's answer; ``wire_ready``: ``raw`` is known to need no change on the
        wire (``mail.message.wire_ready``), so RETR sends it as it is."""
        # RETR's octet count is the size LIST gave (RFC 1939 §7 example "+OK 120 octets").
        if body_lines is None:
            first = ok(f"{size} octets")
            if wire_ready:
                return Reply(first, more=(raw, b".\r\n"))
            return Reply(first + wire_message(raw))
        return Reply(ok("Top of message follows") + wire_message(raw, body_lines))

    def message_gone(self) -> Reply:
        return Reply(err("That message was removed from the mailbox by another session"))

    def updated(self, failure: str | None = None) -> Reply:
        """RFC 1939 §6: -ERR when some deletions could not be applied."""
        if failure:
            return Reply(err(f"Some deleted messages not removed: {failure}", CODE_SYS_TEMP),
                         close=True)
        return Reply(ok("Bye"), close=True)

    # -- TRANSACTION (RFC 1939 §5, §7)

    def _message(self, arg: str) -> tuple[int, MaildropMessage]:
        assert self.maildrop is not None
        # Digits only: int() would also take "+1", " 1", "1_0" and "١".
        if not (arg.isascii() and arg.isdigit()) or len(arg) > 9:
            raise _NoSuchMessage("Invalid message number")
        number = int(arg)
        if not 1 <= number <= len(self.maildrop):
            raise _NoSuchMessage("No such message")
        if number in self.maildrop.deleted:
            raise _NoSuchMessage("Message already deleted")
        return number, self.maildrop.message(number)

    def _cmd_noop(self, args: list[str]) -> Effect:
        return Reply(ok())

    def _cmd_stat(self, args: list[str]) -> Effect:
        assert self.maildrop is not None
        count, size = self.maildrop.live_count_and_size()
        return Reply(ok(f"{count} {size}"))

    def _cmd_list(self, args: list[str]) -> Effect:
        assert self.maildrop is not None
        if args:
            try:
                number, msg = self._message(args[0])
            except _NoSuchMessage as e:
                return Reply(err(str(e)))
            return Reply(ok(f"{number} {msg.size}"))
        count, size = self.maildrop.live_count_and_size()
        return Reply(multiline(ok(f"{count} messages ({size} octets)"),
                               [f"{n} {m.size}" for n, m in self.maildrop.live()]))

    def _cmd_uidl(self, args: list[str]) -> Effect:
        md = self.maildrop
        assert md is not None
        if args:
            try:
                number, msg = self._message(args[0])
            except _NoSuchMessage as e:
                return Reply(err(str(e)))
            return Reply(ok(f"{number} {md.unique_id(msg)}"))
        return Reply(multiline(ok("Unique-ID listing follows"),
                               [f"{n} {md.unique_id(m)}" for n, m in md.live()]))

    def _cmd_retr(self, args: list[str]) -> Effect:
        try:
            number, msg = self._message(args[0])
        except _NoSuchMessage as e:
            return Reply(err(str(e)))
        return Retrieve(number, msg.uid, msg.size, None)

    def _cmd_top(self, args: list[str]) -> Effect:
        try:
            number, msg = self._message(args[0])
        except _NoSuchMessage as e:
            return Reply(err(str(e)))
        lines = args[1]
        if not (lines.isascii() and lines.isdigit()) or len(lines) > 9:
            return Reply(err("The number of lines must be a non-negative integer"))
        return Retrieve(number, msg.uid, msg.size, int(lines))

    def _cmd_dele(self, args: list[str]) -> Effect:
        assert self.maildrop is not None
        try:
            number, _ = self._message(args[0])
        except _NoSuchMessage as e:
            return Reply(err(str(e)))
        self.maildrop.deleted.add(number)
        return Reply(ok(f"Message {number} deleted"))

    def _cmd_rset(self, args: list[str]) -> Effect:
        assert self.maildrop is not None
        self.maildrop.deleted.clear()
        return Reply(ok(f"Maildrop has {len(self.maildrop)} messages "
                        f"({self.maildrop.total} octets)"))


# --- SASL lines (RFC 5034 §4) ---------------------------------------------------------------------

class SaslCancelled(Exception):
    """The client sent "*" (RFC 5034 §4): the exchange is aborted with -ERR."""


def decode_sasl(text: str | bytes) -> bytes:
    """A client SASL line's bytes; "=" is an empty initial response (RFC 5034 §4).
    Raises SaslCancelled for "*", ValueError when it is not base64."""
    text = text.strip()
    if text in ("*", b"*"):
        raise SaslCancelled()
    if text in ("=", b"="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def sasl_challenge(challenge: bytes) -> bytes:
    return b"+ " + base64.b64encode(challenge) + CRLF


# --- the line buffer ------------------------------------------------------------------------------

class LineTooLong(Exception):
    pass


class LineBuffer:
    """Splits received bytes into lines of at most ``max_length`` octets (line end included).

    An over-long line raises LineTooLong once, and the rest of it, up to its line end, is
    dropped, so an abusive client cannot make the server buffer without limit."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> None:
        self._buf += data

    def __len__(self) -> int:
        """Bytes received and not yet read as lines."""
        return len(self._buf)

    def clear(self) -> None:
        """Drops what was received but not yet read: after STLS, plaintext that came with the
        command must not be taken as if it had been sent over TLS (RFC 2595 §4, RFC 3207 §4.2
        style injection)."""
        self._buf.clear()
        self._discarding = False

    def next_line(self) -> bytes | None:
        """The next complete line (with its LF), or None until more data arrives."""
        while True:
            nl = self._buf.find(b"\n")
            if self._discarding:
                if nl < 0:
                    self._buf.clear()
                    return None
                del self._buf[:nl + 1]
                self._discarding = False
                continue
            if nl < 0:
                if len(self._buf) > self.max_length:
                    self._buf.clear()
                    self._discarding = True
                    raise LineTooLong()
                return None
            if nl + 1 > self.max_length:
                del self._buf[:nl + 1]
                raise LineTooLong()
            line = bytes(self._buf[:nl + 1])
            del self._buf[:nl + 1]
            return line
