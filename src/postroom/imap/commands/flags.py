"""STORE and UID STORE (RFC 9051 §6.4.6) with CONDSTORE's UNCHANGEDSINCE and the MODIFIED
response code (RFC 7162 §3.1.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.imap.args import Args, Bad, No, as_text, compress_uids, flag_list, number
from postroom.imap.commands.fetch import resolve_set
from postroom.imap.selected import flag_list as render_flags
from postroom.imap.shared import right_for_flag
from postroom.imap.wire import Command

if TYPE_CHECKING:
    from postroom.imap.session import Session

_OPS = {"FLAGS": "set", "+FLAGS": "add", "-FLAGS": "remove"}


async def store(s: "Session", cmd: Command) -> tuple[str | None, str] | str:
    view = s.selected
    assert view is not None
    by_uid = cmd.name == "UID STORE"
    a = Args(cmd.args)
    uids = resolve_set(s, a.atom("sequence set"), by_uid)
    unchanged_since = None
    if isinstance(a.peek(), list):
        mods = a.list("store modifiers")
        if len(mods) != 2 or as_text(mods[0]).upper() != "UNCHANGEDSINCE":
            raise Bad("Unknown STORE modifier")
        unchanged_since = number(mods[1], "mod-sequence")
        s.enabled.add("CONDSTORE")
    action = a.atom("flag action").upper()
    silent = action.endswith(".SILENT")
    op = _OPS.get(action.removesuffix(".SILENT"))
    if op is None:
        raise Bad(f"Unknown STORE action {action[:30]}")
    rest = a.tokens[a.i:]
    if not rest:
        raise Bad("Missing flags")
    flags = flag_list(rest[0] if len(rest) == 1 and isinstance(rest[0], list) else rest)
    if view.readonly:
        raise No("Mailbox is read-only", "READ-ONLY")
    if not uids:
        return "STORE completed"
    needed = {right_for_flag(f) for f in flags}
    if op == "set":
        needed |= {"s", "t", "w"}           # FLAGS replaces (may clear) every kind
    if any(r not in view.rights for r in needed):
        raise No("Permission denied: changing these flags", "NOPERM")
    result = await s.store.store_flags(view.account_id, view.id, uids, op, flags,
                                       unchanged_since=unchanged_since)
    if op != "remove":
        view.note_flags(s, [tuple(flags)])
    changed = result.changed
    if changed and result.since is not None and result.since == view.modseq:
        # Nothing else had changed since the session's last look, so the change log now holds
        # just this write, answered here: the next look starts after it, not reading it back.
        view.modseq = changed[0].modseq
    else:
        view.reported.update((c.uid, c.modseq) for c in changed)
    numbered = view.numbered([c.uid for c in changed])
    reported = {uid for _, uid in numbered}
    if not silent or s.condstore:
        with_uid = by_uid or s.qresync
        condstore = s.condstore
        change_of = {c.uid: c for c in changed}
        lines = []
        for seq, uid in numbered:
            c = change_of[uid]
            parts = [f"UID {c.uid}"] if with_uid else []
            if not silent:
                parts.append("FLAGS " + render_flags(c.flags))
            if condstore:
                parts.append(f"MODSEQ ({c.modseq})")
            lines.append(f"* {seq} FETCH ({' '.join(parts)})\r\n".encode())
            if len(lines) >= 1000:
                s.send_pieces(lines)
                lines = []
                await s.maybe_flush()
        s.send_pieces(lines)
        await s.maybe_flush()
    if not silent:
        # Messages whose flags were already as asked still get their FLAGS (RFC 9051 §6.4.6).
        modified = set(result.modified)
        rest_uids = [u for u in uids if u not in reported and u not in modified]
        for start in range(0, len(rest_uids), 1000):
            for e in await s.store.entries(view.account_id, view.id,
                                           rest_uids[start:start + 1000]):
                seq = view.seq_of(e.uid)
                if seq is None:
                    continue
                uid = f"UID {e.uid} " if by_uid or s.qresync else ""
                ms = f" MODSEQ ({e.modseq})" if s.condstore else ""
                s.untagged(f"{seq} FETCH ({uid}FLAGS {render_flags(e.flags)}{ms})")
            await s.maybe_flush()
    if result.modified:
        ids = sorted(result.modified) if by_uid else \
            sorted(q for q in (view.seq_of(u) for u in result.modified) if q)
        return (f"MODIFIED {compress_uids(ids)}", "Conditional STORE failed")
    return "STORE completed"


HANDLERS = {"STORE": store, "UID STORE": store}
