"""Modified UTF-7 mailbox names (RFC 3501 §5.1.3), used with IMAP4rev1 clients that have not
enabled UTF8=ACCEPT or IMAP4rev2; the store keeps names as Unicode."""

from __future__ import annotations

import base64


class BadName(ValueError):
    pass


def encode(name: str) -> str:
    """Unicode to modified UTF-7: "&" becomes "&-", other non-ASCII runs "&<base64>-"."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            data = "".join(run).encode("utf-16-be", "surrogatepass")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=")
                       .replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
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
