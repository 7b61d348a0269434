"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3): what IMAP4rev1 clients that have not enabled
UTF8=ACCEPT or IMAP4rev2 see, and how Maildir++ folder names are written on disk (import and
export). The store keeps names as Unicode."""

from __future__ import annotations

import base64


class BadName(ValueError):
    pass


def encode(name: str, also: str = "") -> str:
    """Unicode to modified UTF-7: "&" becomes "&-", other non-ASCII runs "&<base64>-".
    Characters in ``also`` are encoded too (Maildir++ reserves ".")."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = "".join(run).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=")
                       .replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E and ch not in also:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    """Modified UTF-7 to Unicode; BadName for malformed input (RFC 3501 §5.1.3 forbids
    non-ASCII octets and unterminated shifts)."""
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ord(ch) > 0x7E or ord(ch) < 0x20:
            raise BadName("non-ASCII octet in a modified UTF-7 name")
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i + 1)
        if end < 0:
            raise BadName("unterminated modified UTF-7 shift")
        chunk = name[i + 1:end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            b64 += "=" * (-len(b64) % 4)
            try:
                data = base64.b64decode(b64, validate=True)
                text = data.decode("utf-16-be")
            except (ValueError, UnicodeDecodeError):
                raise BadName("malformed modified UTF-7") from None
            out.append(text)
        i = end + 1
    return "".join(out)


def decode_lenient(name: str) -> str:
    """Like decode, but a part that is not valid modified UTF-7 is kept as written: folder
    names on disk were made by many programs."""
    out: list[str] = []
    i = 0
    while i < len(name):
        end = name.find("&", i)
        if end < 0:
            out.append(name[i:])
            break
        out.append(name[i:end])
        close = name.find("-", end + 1)
        if close < 0:
            out.append(name[end:])
            break
        try:
            out.append(decode(name[end:close + 1]))
        except BadName:
            out.append(name[end:close + 1])
        i = close + 1
    return "".join(out)
