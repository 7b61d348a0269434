"""IMAP string serialization: quoted strings, literals and NIL (RFC 9051 §4.3, RFC 3501 §4.3).

Used for the cached ENVELOPE and BODYSTRUCTURE and reused by the IMAP door. The cached forms are
served to IMAP4rev1 and IMAP4rev2 clients alike, so a value with 8-bit bytes becomes a literal:
RFC 3501's QUOTED-CHAR is 7-bit only (Dovecot does the same).
"""

from __future__ import annotations

import re

# Anything that may not appear inside a quoted string at all (CR, LF, NUL) or not in IMAP4rev1
# (8-bit). Quote and backslash are escaped instead.
_NEEDS_LITERAL = re.compile(rb"[\x00\r\n\x80-\xff]")
_NEEDS_ESCAPE = re.compile(rb'(["\\])')


def literal(value: bytes) -> bytes:
    """``{n}CRLF`` followed by the bytes (RFC 9051 §4.3 literal)."""
    return b"{%d}\r\n" % len(value) + value


def quote_string(value: bytes) -> bytes:
    """An IMAP ``string``: quoted with ``\\`` escapes when possible, else a literal."""
    if _NEEDS_LITERAL.search(value):
        return literal(value)
    if b'"' in value or b"\\" in value:
        value = _NEEDS_ESCAPE.sub(rb"\\\1", value)
    return b'"' + value + b'"'


def nstring(value: bytes | str | None) -> bytes:
    """An IMAP ``nstring``: NIL for an absent value, else :func:`quote_string`."""
    if value is None:
        return b"NIL"
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    return quote_string(value)
