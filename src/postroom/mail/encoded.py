"""Decoding header text: RFC 2047 encoded-words, RFC 2231 parameter values, charsets.

Lenient on purpose: real mail has encoded-words inside words, inside quoted strings, with bad
padding or unknown charsets, and raw 8-bit bytes. Nothing here raises on bad input; what cannot
be decoded is replaced (U+FFFD) or read as Latin-1.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from urllib.parse import unquote_to_bytes

# =?charset[*lang]?B|Q?text?= ; the text may not contain "?" or whitespace (RFC 2047 §2), but
# we allow an empty text and any charset token.
_EWORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")
_WS_ONLY = re.compile(r"[ \t\r\n]+")

_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "x-unknown": "latin-1",
    "unknown-8bit": "latin-1",
    "x-user-defined": "latin-1",
    "us-ascii": "cp1252",   # mail labelled us-ascii is often really cp1252/latin-1
    "iso-8859-8-i": "iso-8859-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def _codec(charset: str | None) -> str:
    if not charset:
        return "utf-8"
    cs = charset.strip().strip('"').lower()
    cs = _CHARSET_ALIASES.get(cs, cs)
    try:
        return codecs.lookup(cs).name
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return "latin-1"


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Bytes in ``charset`` to text, never raising: unknown charsets read as UTF-8 when valid,
    else Latin-1; undecodable bytes become U+FFFD."""
    if charset is None or not charset.strip():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")
    codec = _codec(charset)
    if codec == "cp1252" and data.isascii():
        return data.decode("ascii")
    if codec in ("utf-8", "latin-1", "cp1252"):
        # a wrong label is common: valid UTF-8 is almost surely UTF-8
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(codec if codec != "utf-8" else "cp1252", "replace")
    try:
        return data.decode(codec, "replace")
    except Exception:  # codec-specific failures (e.g. a broken stateful codec)
        return data.decode("latin-1")


def header_text(value: bytes) -> str:
    """Raw header bytes to text: UTF-8 when valid (RFC 6532), else cp1252."""
    if value.isascii():
        return value.decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("cp1252", "replace")


def _decode_word(charset: str, enc: str, text: str) -> str:
    charset = charset.split("*", 1)[0]  # RFC 2231 §5 language suffix
    raw = text.encode("ascii", "replace")
    if enc in "bB":
        raw = raw.rstrip(b"=")
        raw += b"=" * (-len(raw) % 4)
        try:
            data = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            data = b""
    else:
        data = _QP_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))
    return decode_bytes(data, charset)


def decode_words(value: str) -> str:
    """Decode every RFC 2047 encoded-word in ``value``; whitespace between two adjacent
    encoded-words is dropped (RFC 2047 §6.2)."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    last_end = -1
    for m in _EWORD.finditer(value):
        between = value[pos:m.start()]
        if not (last_end == pos and _WS_ONLY.fullmatch(between)):
            out.append(between)
        out.append(_decode_word(m.group(1), m.group(2), m.group(3)))
        pos = last_end = m.end()
    out.append(value[pos:])
    return "".join(out)


def decode_header(value: bytes) -> str:
    """A raw header value to display text: unfolded, 8-bit read as UTF-8, encoded-words decoded,
    runs of whitespace collapsed."""
    text = header_text(value)
    text = " ".join(text.split())
    return decode_words(text)


def decode_rfc2231(value: str) -> str:
    """An RFC 2231 extended value ``charset'lang'%XX..`` to text."""
    parts = value.split("'", 2)
    if len(parts) == 3:
        charset, _lang, data = parts
    else:
        charset, data = "", value
    return decode_bytes(unquote_to_bytes(data), charset or None)
