"""APPEND (RFC 9051 §6.3.12) with MULTIAPPEND (RFC 3502: several messages, all or none),
UIDPLUS APPENDUID (RFC 4315 §3), literal8 (RFC 3516 §4.4) and APPENDLIMIT (RFC 7889)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, compress_uids, date_time, flag_list, mailbox_name
from postroom.imap.shared import find_or_fail, right_for_flag
from postroom.imap.wire import Command, String

if TYPE_CHECKING:
    from postroom.imap.session import Session


async def append(s: "Session", cmd: Command) -> tuple[str, str]:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    items: list[tuple[bytes, list[str], int | None]] = []
    while a.more():
        flags: list[str] = []
        when = None
        if isinstance(a.peek(), list):
            flags = flag_list(a.next())
        tok = a.peek()
        if isinstance(tok, String) and not tok.literal:
            when = date_time(a.next())
        msg = a.next("message literal")
        if isinstance(msg, str) and not isinstance(msg, String) and msg.upper() == "UTF8" \
                and isinstance(a.peek(), list):
            # RFC 6855 §4: APPEND ... UTF8 (~{n}...) carries a message with UTF-8 headers.
            inner = a.next()
            if len(inner) != 1 or not isinstance(inner[0], String):
                raise Bad("UTF8 takes one literal8")
            msg = inner[0]
        if not isinstance(msg, String):
            raise Bad("The message must be a literal")
        if len(msg) > s.settings.max_literal_size:
            raise No("Message too big", "TOOBIG")
        items.append((bytes(msg), flags, when))
    if not items:
        raise Bad("Missing message")
    place = await find_or_fail(s, name, "TRYCREATE")
    place.require("i", "adding messages to this mailbox")
    owner, mbox = place.account_id, place.mailbox
    if place.shared:
        # Flags the user may not set there are dropped (RFC 4314 §4).
        items = [(raw, [f for f in flags if right_for_flag(f) in place.rights], when)
                 for raw, flags, when in items]
    if len(items) == 1:
        raw, flags, when = items[0]
        results = [await s.store.append(owner, mbox.id, raw, flags, when)]
    else:
        results = await s.store.append_many(owner, mbox.id, items)
    uids = compress_uids(sorted(r.uid for r in results))
    return (f"APPENDUID {results[0].uidvalidity} {uids}", "APPEND completed")


HANDLERS = {"APPEND": append}
