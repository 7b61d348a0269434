"""COPY, MOVE and their UID forms (RFC 9051 §6.4.7-8, RFC 6851 MOVE) with UIDPLUS COPYUID
(RFC 4315 §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, No, compress_uids, mailbox_name
from postroom.imap.commands.fetch import resolve_set
from postroom.imap.wire import Command

if TYPE_CHECKING:
    from postroom.imap.session import Session


async def copy(s: "Session", cmd: Command) -> tuple[str | None, str] | str:
    view = s.selected
    assert view is not None
    by_uid = cmd.name.startswith("UID ")
    moving = cmd.name.endswith("MOVE")
    a = Args(cmd.args)
    uids = resolve_set(s, a.atom("sequence set"), by_uid)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    a.end()
    dest = await s.store.get_mailbox(s.account_id, name)
    if dest is None:
        raise No("No such mailbox", "TRYCREATE")
    verb = "MOVE" if moving else "COPY"
    if moving and view.readonly:
        raise No("Mailbox is read-only", "READ-ONLY")
    if not uids:
        return f"{verb} completed"
    if moving:
        if dest.id == view.id:
            raise No("Cannot move a message into the mailbox it is in", "CANNOT")
        result = await s.store.move(s.account_id, view.id, uids, dest.id)
    else:
        result = await s.store.copy(s.account_id, view.id, uids, dest.id)
    if not result.pairs:
        if not by_uid:
            raise No("The messages no longer exist", "EXPUNGEISSUED")
        return f"{verb} completed"
    src = compress_uids([p[0] for p in result.pairs])
    dst = ",".join(str(p[1]) for p in result.pairs)
    dst = compress_uids([p[1] for p in result.pairs]) \
        if all(result.pairs[i][1] < result.pairs[i + 1][1]
               for i in range(len(result.pairs) - 1)) else dst
    code = f"COPYUID {result.uidvalidity} {src} {dst}"
    if moving:
        # RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
        s.untagged(f"OK [{code}] Moved")
        view.remove(s, [p[0] for p in result.pairs])
        return f"{verb} completed"
    return (code, f"{verb} completed")


HANDLERS = {"COPY": copy, "UID COPY": copy, "MOVE": copy, "UID MOVE": copy}
