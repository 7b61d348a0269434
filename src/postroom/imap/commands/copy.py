"""COPY, MOVE and their UID forms (RFC 9051 §6.4.7-8, RFC 6851 MOVE) with UIDPLUS COPYUID
(RFC 4315 §3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, No, compress_uids, mailbox_name
from postroom.imap.commands.fetch import resolve_set
from postroom.imap.selected import SelectedMailbox
from postroom.imap.shared import Place, find_or_fail, right_for_flag
from postroom.imap.wire import Command
from postroom.store.api import CopyResult

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
    dest = await find_or_fail(s, name, "TRYCREATE")
    dest.require("i", "adding messages to the destination")
    verb = "MOVE" if moving else "COPY"
    if moving and view.readonly:
        raise No("Mailbox is read-only", "READ-ONLY")
    if moving and any(r not in view.rights for r in "te"):
        raise No("Permission denied: removing messages from this mailbox", "NOPERM")
    if not uids:
        return f"{verb} completed"
    if moving and dest.mailbox.id == view.id and dest.account_id == view.account_id:
        raise No("Cannot move a message into the mailbox it is in", "CANNOT")
    if dest.account_id != view.account_id:
        result = await _copy_across(s, view, uids, dest, moving)
    elif moving:
        result = await s.store.move(view.account_id, view.id, uids, dest.mailbox.id)
    else:
        result = await s.store.copy(view.account_id, view.id, uids, dest.mailbox.id)
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


async def _copy_across(s: "Session", view: SelectedMailbox, uids: list[int], dest: Place,
                       moving: bool) -> CopyResult:
    """COPY/MOVE between two users' mailboxes (one of them shared): the store copies within
    an account, so the messages are appended to the other account (the same blobs, stored
    once) and, for MOVE, then removed from the source."""
    rows = await s.store.fetch_tuples(view.account_id, view.id, uids, ("blob", "internal_date"))
    raws = await s.store.read_blobs([(row[3], 0, None) for row in rows])
    # Flags the user may not set in the destination are dropped (RFC 4314 §4).
    items = [(raw, [f for f in row[2] if right_for_flag(f) in dest.rights], row[4])
             for row, raw in zip(rows, raws)]
    results = await s.store.append_many(dest.account_id, dest.mailbox.id, items) if items \
        else []
    if moving and rows:
        await s.store.remove(view.account_id, view.id, [row[0] for row in rows])
    pairs = [(row[0], r.uid) for row, r in zip(rows, results)]
    return CopyResult(results[0].uidvalidity if results else dest.mailbox.uidvalidity, pairs,
                      results[-1].modseq if results else 0)


HANDLERS = {"COPY": copy, "UID COPY": copy, "MOVE": copy, "UID MOVE": copy}
