"""METADATA (RFC 5464): GETMETADATA with MAXSIZE and DEPTH, SETMETADATA, on the server ("")
and on mailboxes; entries live in the store (get_metadata/set_metadata)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, as_bytes, as_text, mailbox_name, number
from postroom.imap.commands.mailboxes import name_out
from postroom.imap.wire import Command, String
from postroom.mail.imapquote import quote_string

if TYPE_CHECKING:
    from postroom.imap.session import Session

MAX_VALUE = 64 * 1024          # RFC 5464 §4.3 MAXSIZE we accept per value
MAX_ENTRIES = 200
_ENTRY = re.compile(r"/(private|shared)(/[^\x00-\x1f\x7f*%/]+)+\Z", re.IGNORECASE)


def _entry(tok) -> str:
    name = as_text(tok, "entry name")
    if not _ENTRY.match(name) or "//" in name or name.endswith("/"):
        raise Bad(f"Invalid metadata entry name {name[:60]}")
    return name.lower()


async def _target(s: "Session", tok) -> tuple[int | None, bytes]:
    raw = as_bytes(tok, "mailbox name")
    if raw == b"":
        return None, b'""'
    name = mailbox_name(tok, utf8=s.utf8)
    mbox = await s.store.get_mailbox(s.account_id, name)
    if mbox is None:
        raise No("No such mailbox", "NONEXISTENT")
    return mbox.id, name_out(s, mbox.name)


async def getmetadata(s: "Session", cmd: Command) -> tuple[str | None, str] | str:
    a = Args(cmd.args)
    maxsize = None
    depth = "0"
    if isinstance(a.peek(), list):
        opts = a.list("options")
        i = 0
        while i < len(opts):
            o = as_text(opts[i]).upper()
            if o == "MAXSIZE" and i + 1 < len(opts):
                maxsize = number(opts[i + 1], "MAXSIZE")
            elif o == "DEPTH" and i + 1 < len(opts):
                depth = as_text(opts[i + 1]).lower()
                if depth not in ("0", "1", "infinity"):
                    raise Bad("DEPTH is 0, 1 or infinity")
            else:
                raise Bad(f"Unknown GETMETADATA option {o[:30]}")
            i += 2
    mailbox_id, label = await _target(s, a.next("mailbox name"))
    tok = a.next("entries")
    entries = [_entry(t) for t in (tok if isinstance(tok, list) else [tok])]
    a.end()
    if depth == "0":
        values = await s.store.get_metadata(s.account_id, mailbox_id, entries)
    else:
        every = await s.store.get_metadata(s.account_id, mailbox_id, None)
        values = {}
        for k, v in every.items():
            for e in entries:
                if k == e or (k.startswith(e + "/") and
                              (depth == "infinity" or "/" not in k[len(e) + 1:])):
                    values[k] = v
    longest = 0
    pairs = []
    for k in sorted(values):
        v = values[k]
        if maxsize is not None and len(v) > maxsize:
            longest = max(longest, len(v))
            continue
        pairs.append(quote_string(k.encode()) + b" " + quote_string(v))
    if pairs:
        s.send(b"* METADATA " + label + b" (" + b" ".join(pairs) + b")\r\n")
    if longest:
        return (f"METADATA LONGENTRIES {longest}", "GETMETADATA completed")
    return "GETMETADATA completed"


async def setmetadata(s: "Session", cmd: Command) -> str:
    a = Args(cmd.args)
    mailbox_id, _ = await _target(s, a.next("mailbox name"))
    lst = a.list("entries and values")
    a.end()
    if not lst or len(lst) % 2:
        raise Bad("Entries and values come in pairs")
    values: dict[str, bytes | None] = {}
    for i in range(0, len(lst), 2):
        key = _entry(lst[i])
        v = lst[i + 1]
        if isinstance(v, str) and not isinstance(v, String) and v.upper() == "NIL":
            values[key] = None
        else:
            data = as_bytes(v, "value")
            if len(data) > MAX_VALUE:
                raise No("Value too long", f"METADATA MAXSIZE {MAX_VALUE}")
            values[key] = data
    if len(values) > MAX_ENTRIES:
        raise No("Too many entries", "METADATA TOOMANY")
    await s.store.set_metadata(s.account_id, mailbox_id, values)
    return "SETMETADATA completed"


HANDLERS = {"GETMETADATA": getmetadata, "SETMETADATA": setmetadata}
