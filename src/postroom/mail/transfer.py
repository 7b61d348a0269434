"""Content-Transfer-Encoding decoding (RFC 2045 §6) for BINARY[] (RFC 3516) and body text.

Decoding is lenient: base64 with stray characters or bad padding and quoted-printable with
bad escapes decode as far as they can. Only an encoding we do not know raises, so that IMAP can
answer [UNKNOWN-CTE] (RFC 3516 §4.3).
"""

from __future__ import annotations

import base64
import binascii
import re


class UnknownEncoding(ValueError):
    """The Content-Transfer-Encoding is not one of 7bit, 8bit, binary, base64,
    quoted-printable (RFC 3516 UNKNOWN-CTE)."""

    def __init__(self, encoding: str) -> None:
        super().__init__(f"unknown Content-Transfer-Encoding {encoding!r}")
        self.encoding = encoding


_NOT_B64 = re.compile(rb"[^A-Za-z0-9+/]")
_IDENTITY = frozenset(("", "7bit", "8bit", "binary"))


def decode_base64(data: bytes) -> bytes:
    """Base64 ignoring characters outside the alphabet (RFC 2045 §6.8) and bad padding."""
    clean = _NOT_B64.sub(b"", data)
    # A single leftover sextet carries no whole byte; drop it rather than fail.
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += b"=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean)
    except (binascii.Error, ValueError):
        return b""


def decode_quoted_printable(data: bytes) -> bytes:
    """Quoted-printable (RFC 2045 §6.7); soft line breaks after CRLF or bare LF."""
    return binascii.a2b_qp(data)


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """``data`` decoded from ``encoding`` (any case, surrounding whitespace ignored)."""
    enc = encoding.strip().lower()
    if enc in _IDENTITY:
        return data
    if enc == "base64":
        return decode_base64(data)
    if enc == "quoted-printable":
        return decode_quoted_printable(data)
    raise UnknownEncoding(encoding)
