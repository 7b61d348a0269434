"""The IMAP wire layer, sans-I/O: bytes in, commands out; responses encoded to bytes.

Implements the command framing of RFC 9051 §2.2 and §4 (atoms, quoted strings, synchronizing,
non-synchronizing and LITERAL- literals of RFC 7888, literal8 of RFC 3516, parenthesized lists)
and pipelining (§5.5). The reader never touches a socket: the connection loop feeds it bytes and
acts on the events it returns, so the grammar is tested and fuzzed with plain byte strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from postroom.mail.imapquote import literal as _literal, quote_string

# RFC 7888 §4: with LITERAL-, a non-synchronizing literal may not exceed 4096 octets.
LITERAL_MINUS_MAX = 4096

_LITERAL_MARK = re.compile(rb"(~?)\{([0-9]{1,20})([+-]?)\}\Z")
# RFC 9051 tag = 1*<any ASTRING-CHAR except "+">: no atom-specials except "]".
_TAG = re.compile(rb"[^\x00-\x20\x7f(){%*\"\\+]+\Z")


class Atom(str):
    """An unquoted token (atom, number, sequence set, flag, or a FETCH item like
    ``BODY[HEADER.FIELDS (From)]<0.10>`` whose bracketed part may hold spaces)."""


class String(bytes):
    """A quoted string or a literal; ``literal`` tells which, ``binary`` marks literal8."""
    literal: bool = False
    binary: bool = False


Token = Union[Atom, String, list]


@dataclass(slots=True)
class Command:
    tag: str
    name: str                 # upper-case; "UID FETCH" etc. for UID commands
    args: list                # tokens: Atom, String or nested lists


@dataclass(slots=True)
class Continue:
    """The client sent a synchronizing literal: answer ``+`` before it sends the octets."""
    size: int


@dataclass(slots=True)
class Error:
    """A command the reader refused. ``tag`` is None when no tag could be read.
    ``fatal`` means the connection must be closed: the stream cannot be resynchronized."""
    tag: str | None
    kind: str                 # "BAD" or "NO"
    code: str | None          # response code, e.g. "TOOBIG"
    text: str
    fatal: bool = False


@dataclass(slots=True)
class Line:
    """A raw line read in line mode (AUTHENTICATE responses, IDLE's DONE), without CRLF."""
    data: bytes


NEED_DATA = None
Event = Union[Command, Continue, Error, Line, None]


class ParseError(Exception):
    def __init__(self, text: str, code: str | None = None):
        super().__init__(text)
        self.text = text
        self.code = code


@dataclass(slots=True)
class _Pending:
    """A command being assembled: text segments and literal octets, in order."""
    segments: list = field(default_factory=list)
    size: int = 0


class CommandReader:
    """Assembles complete commands from a byte stream.

    Feed bytes with :meth:`receive_data`; call :meth:`next_event` until it returns NEED_DATA.
    Switch to raw line mode with ``line_mode = True`` for AUTHENTICATE and IDLE.
    """

    def __init__(self, *, max_line_length: int = 65536, max_literal_size: int = 50 << 20,
                 max_command_size: int | None = None):
        self.max_line_length = max_line_length
        self.max_literal_size = max_literal_size
        # A whole command (all lines and literals) may not grow without bound either.
        self.max_command_size = max_command_size or (max_literal_size + 16 * max_line_length)
        self.line_mode = False
        self._buf = bytearray()
        self._pending: _Pending | None = None
        self._literal_left = 0          # octets of the current literal still to read
        self._literal_binary = False
        self._literal_parts: list[bytes] = []
        self._awaiting_continue = False  # we asked for a sync literal; octets follow
        self._dead = False

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def next_event(self) -> Event:
        if self._dead:
            return NEED_DATA
        try:
            return self._next()
        except ParseError as e:
            return self._fail(e)

    # -- internals --

    def _fail(self, e: ParseError, tag: str | None = None) -> Error:
        if tag is None and self._pending is not None and self._pending.segments:
            tag = _tag_of(self._pending.segments[0])
        self._pending = None
        return Error(tag, "BAD", e.code, e.text)

    def _next(self) -> Event:
        if self._literal_left:
            take = min(self._literal_left, len(self._buf))
            if take == 0:
                return NEED_DATA
            self._literal_parts.append(bytes(self._buf[:take]))
            del self._buf[:take]
            self._literal_left -= take
            if self._literal_left:
                return NEED_DATA
            lit = String(b"".join(self._literal_parts))
            lit.literal = True
            lit.binary = self._literal_binary
            self._literal_parts = []
            assert self._pending is not None
            self._pending.segments.append(lit)
        nl = self._buf.find(b"\n", 0, self.max_line_length + 2)
        if nl < 0:
            if len(self._buf) > self.max_line_length + 1:
                return self._too_long()
            return NEED_DATA
        line = bytes(self._buf[:nl])
        del self._buf[:nl + 1]
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.max_line_length:
            self._buf[:0] = b"\n"  # keep framing simple: the connection closes anyway
            return self._too_long(line)
        if self.line_mode and self._pending is None:
            return Line(line)
        if self._pending is None:
            self._pending = _Pending()
        pending = self._pending
        m = _LITERAL_MARK.search(line)
        if m is None or _inside_quotes(line, m.start()):
            pending.segments.append(line)
            self._pending = None
            return _parse_command(pending.segments)
        size = int(m.group(2))
        binary = m.group(1) == b"~"
        mode = m.group(3)
        pending.segments.append(line[:m.start()])
        pending.size += len(line) + size
        tag = _tag_of(pending.segments[0])
        if size > self.max_literal_size or pending.size > self.max_command_size:
            if mode == b"":
                # Synchronizing: the client waits for "+", so refusing keeps us in step
                # (RFC 9051 §7.1 and RFC 7889 APPENDLIMIT: NO [TOOBIG]).
                self._pending = None
                return Error(tag, "NO", "TOOBIG", "Literal too big")
            # Non-synchronizing: the octets are already on their way (RFC 7888 §4).
            self._dead = True
            return Error(tag, "BAD", "TOOBIG", "Literal too big", fatal=True)
        self._literal_left = size
        self._literal_binary = binary
        if size == 0:
            lit = String(b"")
            lit.literal = True
            lit.binary = binary
            pending.segments.append(lit)
        if mode == b"":
            return Continue(size)
        return self._next()

    def _too_long(self, line: bytes | None = None) -> Error:
        head = bytes(line if line is not None else self._buf[:200])
        tag = _tag_of(self._pending.segments[0]) if self._pending and self._pending.segments \
            else _tag_of(head)
        self._dead = True
        self._buf.clear()
        self._pending = None
        return Error(tag, "BAD", "TOOBIG", "Line too long", fatal=True)


def _inside_quotes(line: bytes, pos: int) -> bool:
    """True when ``pos`` lies inside a quoted string (so "{3}" there is not a literal)."""
    inq = False
    i = 0
    while i < pos:
        c = line[i]
        if inq and c == 0x5C:
            i += 2
            continue
        if c == 0x22:
            inq = not inq
        i += 1
    return inq


def _tag_of(first: bytes) -> str | None:
    if isinstance(first, String):
        return None
    tag = first.split(b" ", 1)[0]
    if tag and _TAG.match(tag):
        return tag.decode("ascii", "replace")
    return None


# --- tokenizer ----------------------------------------------------------------------------------

_ATOM_STOP = frozenset(b' ()"{\r\n\x00')


class _Tokens:
    """Walks the segments of one command: text, literal, text, literal, ..., text."""

    def __init__(self, segments: list):
        self.segments = segments
        self.seg = 0
        self.pos = 0

    def peek(self) -> int | None:
        """Next octet of text, -1 when a literal comes next, None at the end of the command."""
        s = self.segments[self.seg]
        if isinstance(s, String):
            return -1
        if self.pos < len(s):
            return s[self.pos]
        if self.seg + 1 < len(self.segments):
            return -1
        return None

    def take_literal(self) -> String:
        if not isinstance(self.segments[self.seg], String):
            self.seg += 1
        s = self.segments[self.seg]
        # A literal is always followed by the rest of its line, a text segment.
        self.seg += 1
        self.pos = 0
        return s

    def advance(self, n: int = 1) -> None:
        self.pos += n


def tokenize(segments: list, start_pos: int = 0) -> list:
    """Parses the arguments of a command into Atom, String and list tokens."""
    t = _Tokens(segments)
    t.pos = start_pos
    stack: list[list] = [[]]
    need_space = False
    while True:
        c = t.peek()
        if c is None:
            break
        if c == -1:
            if need_space:
                raise ParseError("Missing space before literal")
            stack[-1].append(t.take_literal())
            need_space = True
            continue
        if c == 0x20:
            if not need_space and (not stack[-1] or len(stack) > 1):
                raise ParseError("Unexpected space")
            # A doubled space between top-level arguments is tolerated: imapclient sends
            # one before each MULTIAPPEND literal after the first.
            t.advance()
            need_space = False
            nxt = t.peek()
            if nxt == 0x29:
                raise ParseError("Space before closing parenthesis")
            if nxt is None:
                break  # a trailing space, as some clients send: harmless
            continue
        if c == 0x29:  # ")"
            if len(stack) == 1:
                raise ParseError("Unbalanced parenthesis")
            done = stack.pop()
            stack[-1].append(done)
            t.advance()
            need_space = True
            continue
        if need_space:
            raise ParseError("Missing space between arguments")
        if c == 0x28:  # "("
            stack.append([])
            t.advance()
            if len(stack) > 32:
                raise ParseError("Lists nested too deep")
            continue
        s = t.segments[t.seg]
        if c == 0x22:
            stack[-1].append(_quoted(s, t))
        else:
            stack[-1].append(_atom(s, t))
        need_space = True
    if len(stack) != 1:
        raise ParseError("Unbalanced parenthesis")
    return stack[0]


def _quoted(s: bytes, t: _Tokens) -> String:
    i = t.pos + 1
    out = bytearray()
    while i < len(s):
        c = s[i]
        if c == 0x5C:
            if i + 1 >= len(s) or s[i + 1] not in (0x5C, 0x22):
                raise ParseError("Bad escape in quoted string")
            out.append(s[i + 1])
            i += 2
            continue
        if c == 0x22:
            t.pos = i + 1
            return String(bytes(out))
        if c in (0x00, 0x0D, 0x0A):
            raise ParseError("Bad character in quoted string")
        out.append(c)
        i += 1
    raise ParseError("Unterminated quoted string")


def _atom(s: bytes, t: _Tokens) -> Atom:
    i = t.pos
    depth = 0
    inq = False
    while i < len(s):
        c = s[i]
        if inq:
            if c == 0x5C:
                i += 2
                continue
            if c == 0x22:
                inq = False
            i += 1
            continue
        if c == 0x5B:  # "[": a FETCH section may contain spaces, lists and quoted strings
            depth += 1
        elif c == 0x5D:
            if depth:
                depth -= 1
        elif depth and c == 0x22:
            inq = True
        elif c in _ATOM_STOP and not (depth and c in (0x20, 0x28, 0x29)):
            break
        elif c < 0x20 or c == 0x7F:
            raise ParseError("Control character in atom")
        i += 1
    if depth or inq:
        raise ParseError("Unterminated section")
    if i == t.pos:
        raise ParseError("Unexpected character")
    raw = s[t.pos:i]
    t.pos = i
    return Atom(raw.decode("utf-8", "surrogateescape"))


def _parse_command(segments: list) -> Command | Error:
    first = segments[0]
    tag = _tag_of(first)
    if tag is None:
        return Error(None, "BAD", None, "Missing or invalid tag")
    rest = first[len(tag) + 1:]
    if not rest or first[len(tag):len(tag) + 1] != b" ":
        return Error(tag, "BAD", None, "Missing command")
    try:
        toks = tokenize(segments, start_pos=len(tag) + 1)
    except ParseError as e:
        return Error(tag, "BAD", e.code, e.text)
    if not toks or not isinstance(toks[0], Atom):
        return Error(tag, "BAD", None, "Missing command")
    name = toks[0].upper()
    args = toks[1:]
    if name == "UID":
        if not args or not isinstance(args[0], Atom):
            return Error(tag, "BAD", None, "Missing UID command")
        name = "UID " + args[0].upper()
        args = args[1:]
    return Command(tag, name, args)


# --- response encoding --------------------------------------------------------------------------

def astring(value: str | bytes, *, utf8: bool = False) -> bytes:
    """An astring for a response (mailbox names, metadata names): quoted, or a literal when it
    holds CR/LF/NUL, or 8-bit octets while UTF-8 is not enabled (RFC 9051 §4.3)."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if utf8 and not re.search(rb"[\x00\r\n]", value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return quote_string(value)


def literal(value: bytes, binary: bool = False) -> bytes:
    return (b"~" if binary else b"") + _literal(value)


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    c = f"[{code}] " if code else ""
    return f"{tag} {status} {c}{text}\r\n".encode("utf-8", "surrogateescape")


def untagged(text: str | bytes) -> bytes:
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    return b"* " + text + b"\r\n"
