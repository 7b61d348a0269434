"""Opening and closing a mailbox: SELECT and EXAMINE (RFC 9051 §6.3.2-3, with CONDSTORE and
QRESYNC parameters, RFC 7162 §3.1.8 and §3.2.5), CLOSE, UNSELECT (RFC 3691), CHECK, EXPUNGE
and UID EXPUNGE (RFC 4315 §2.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import (Args, Bad, No, as_text, compress_uids, mailbox_name, number,
                                parse_sequence_set, uid_ranges, uids_in)
from postroom.imap.commands.mailboxes import mailbox_objectid, name_out
from postroom.imap.selected import SelectedMailbox, flag_list
from postroom.imap.shared import find_or_fail
from postroom.imap.state import State
from postroom.imap.wire import Command
from postroom.store.api import SEPARATOR

if TYPE_CHECKING:
    from postroom.imap.session import Session

async def select(s: "Session", cmd: Command) -> tuple[str, str]:
    return await _open(s, cmd, readonly=False)


async def examine(s: "Session", cmd: Command) -> tuple[str, str]:
    return await _open(s, cmd, readonly=True)


async def _open(s: "Session", cmd: Command, *, readonly: bool) -> tuple[str, str]:
    a = Args(cmd.args)
    name = mailbox_name(a.next("mailbox name"), utf8=s.utf8)
    qresync = None
    if a.more():
        params = a.list("select parameters")
        i = 0
        while i < len(params):
            p = as_text(params[i]).upper()
            if p == "CONDSTORE":
                s.enabled.add("CONDSTORE")
                i += 1
            elif p == "QRESYNC":
                if "QRESYNC" not in s.enabled:
                    raise Bad("QRESYNC must be enabled first (RFC 7162 §3.2.5)")
                if i + 1 >= len(params) or not isinstance(params[i + 1], list):
                    raise Bad("QRESYNC needs parameters")
                qresync = _qresync_params(params[i + 1])
                i += 2
            else:
                raise Bad(f"Unknown SELECT parameter {p[:30]}")
    a.end()
    if s.selected is not None:
        # RFC 9051 §6.3.2 / RFC 7162 §3.2.11: the old mailbox is closed first, without expunge.
        s.selected = None
        s.state = State.AUTHENTICATED
        s.untagged("OK [CLOSED] Previous mailbox closed")
    place = await find_or_fail(s, name)
    place.require("r", "reading this mailbox")
    # RFC 4314 §4: with none of the rights to change it, the mailbox opens read-only.
    readonly = readonly or not any(r in place.rights for r in "swte")
    owner, mbox = place.account_id, place.mailbox
    status, uids, keywords = await s.store.mailbox_snapshot(owner, mbox.id)
    view = SelectedMailbox(mbox, readonly=readonly, uids=uids, modseq=status.highestmodseq,
                           keywords=keywords, account_id=owner, rights=place.rights)
    view.uidnext = status.uidnext
    s.untagged(f"{len(view)} EXISTS")
    if not s.rev2:
        s.untagged("0 RECENT")
    view.announce_flags(s)
    if status.first_unseen_uid is not None and not s.rev2:
        seq = view.seq_of(status.first_unseen_uid)
        if seq:
            s.untagged(f"OK [UNSEEN {seq}] First unseen")
    s.untagged(f"OK [UIDVALIDITY {status.uidvalidity}] UIDs valid")
    s.untagged(f"OK [UIDNEXT {status.uidnext}] Predicted next UID")
    s.untagged(f"OK [HIGHESTMODSEQ {status.highestmodseq}] Highest")
    s.untagged(f"OK [MAILBOXID ({mailbox_objectid(mbox)})] Ok")
    if s.rev2:
        s.send(b"* LIST () \"" + SEPARATOR.encode() + b"\" " + name_out(s, place.name) + b"\r\n")
    if qresync is not None and qresync[0] == status.uidvalidity:
        await _qresync(s, view, qresync)
    s.selected = view
    s.state = State.SELECTED
    s.searchres = []
    return ("READ-ONLY" if readonly else "READ-WRITE", f"{cmd.name} completed")


def _qresync_params(params: list) -> tuple:
    """(uidvalidity modseq [known-uids [(seq-set uid-set)]]) of RFC 7162 §3.2.5."""
    if len(params) < 2:
        raise Bad("QRESYNC needs UIDVALIDITY and MODSEQ")
    uidvalidity = number(params[0], "uidvalidity", nz=True)
    modseq = number(params[1], "modseq")
    known = None
    if len(params) > 2 and not isinstance(params[2], list):
        known = parse_sequence_set(as_text(params[2]))
    return (uidvalidity, modseq, known)


async def _qresync(s: "Session", view: SelectedMailbox, params: tuple) -> None:
    _, modseq, known = params
    changes = await s.store.changes_since(view.account_id, view.id, modseq)
    vanished = changes.vanished
    if known is not None:
        ranges = [(min(a, b), max(a, b)) for a, b in known if a > 0 and b > 0]
        vanished = [u for u in vanished if any(lo <= u <= hi for lo, hi in ranges)]
    if vanished:
        s.untagged(f"VANISHED (EARLIER) {compress_uids(sorted(vanished))}")
    for e in changes.changed:
        seq = view.seq_of(e.uid)
        if seq is not None:
            s.untagged(f"{seq} FETCH (UID {e.uid} FLAGS {flag_list(e.flags)} "
                       f"MODSEQ ({e.modseq}))")
            await s.maybe_flush()


async def close(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    view = s.selected
    assert view is not None
    if not view.readonly and "e" in view.rights:
        # RFC 9051 §6.4.1: silently expunge, no EXPUNGE responses.
        await s.store.expunge(view.account_id, view.id)
    s.selected = None
    s.state = State.AUTHENTICATED
    return "CLOSE completed"


async def unselect(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    s.selected = None
    s.state = State.AUTHENTICATED
    return "UNSELECT completed"


async def check(s: "Session", cmd: Command) -> str:
    Args(cmd.args).end()
    return "CHECK completed"


async def expunge(s: "Session", cmd: Command) -> tuple[str, str] | str:
    a = Args(cmd.args)
    view = s.selected
    assert view is not None
    only = None
    if cmd.name == "UID EXPUNGE":
        only = uids_in(uid_ranges(parse_sequence_set(a.atom("uid set")), view.uids), view.uids)
    a.end()
    if view.readonly:
        raise No("Mailbox is read-only", "READ-ONLY")
    if only is not None and not only:
        return "EXPUNGE completed"
    if "e" not in view.rights:
        raise No("Permission denied: expunging", "NOPERM")
    gone = await s.store.expunge(view.account_id, view.id, only)
    view.remove(s, gone)
    status = await s.store.mailbox_status(view.account_id, view.id)
    if s.condstore:
        return (f"HIGHESTMODSEQ {status.highestmodseq}", "EXPUNGE completed")
    return "EXPUNGE completed"


HANDLERS = {
    "SELECT": select, "EXAMINE": examine, "CLOSE": close, "UNSELECT": unselect,
    "CHECK": check, "EXPUNGE": expunge, "UID EXPUNGE": expunge,
}
