"""The selected mailbox as one session sees it: the message sequence number map (a uid array)
and the changes other sessions made, announced only when RFC 9051 allows.

RFC 9051 §7.5.1 and §5.5: EXPUNGE may not be sent while answering FETCH, STORE or SEARCH by
sequence number (nor when no command is in progress), so an expunge made elsewhere is held
back and its message keeps its sequence number until then. EXISTS and FETCH FLAGS may be sent
after any command. With QRESYNC, expunges go out as VANISHED (RFC 7162 §3.2.10). Everything is
read off the store's change log (``changes_since``), never by rescanning the mailbox.
"""

from __future__ import annotations

import weakref
from array import array
from bisect import bisect_left
from typing import TYPE_CHECKING, Iterable, Sequence

from postroom.imap.args import compress_uids
from postroom.store.api import SYSTEM_FLAGS, UID_TYPECODE, Changes, Mailbox, NotFound

if TYPE_CHECKING:
    from postroom.imap.session import Session


_UID = UID_TYPECODE


class UidMap(array):
    """A uid array a session made. Sessions on the same mailbox that hold the same uids share
    one map (10,000 clients idling on one INBOX keep one copy, not 10,000), at first the
    store's own listing as it is; a session copies it before changing it (copy on write) and
    shares the result again."""

    grown_from: "weakref.ref[UidMap] | None" = None    # see SelectedMailbox.add
    grown_by: list[int] | None = None


# The map most recently shared for each mailbox; gone when no session holds it.
_shared: "weakref.WeakValueDictionary[int, array]" = weakref.WeakValueDictionary()


def _share(mailbox_id: int, uids: Iterable[int]) -> array:
    """The shared map equal to ``uids``, or a new one that becomes the shared one. An array
    is taken as it is, not copied: the store's listings are read-only, like every map."""
    current = _shared.get(mailbox_id)
    if current is not None and (current is uids or current == uids):   # a C compare
        return current
    made = uids if isinstance(uids, array) and uids.typecode == _UID else UidMap(_UID, uids)
    _shared[mailbox_id] = made
    return made


def flag_list(flags: Iterable[str]) -> str:
    return "(" + " ".join(flags) + ")"


class SelectedMailbox:
    def __init__(self, mailbox: Mailbox, *, readonly: bool, uids: Iterable[int], modseq: int,
                 keywords: Iterable[str] = (), account_id: int | None = None,
                 rights: str = "lrswipkxtea"):
        self.mailbox = mailbox
        self.id = mailbox.id
        # The owner's account (another user's for a shared mailbox, imap/shared.py): every
        # store call about this mailbox uses it. ``rights`` are the session user's (RFC 4314).
        self.account_id = mailbox.account_id if account_id is None else account_id
        self.rights = rights
        self.readonly = readonly
        # 4 bytes per message (a UID is a 32-bit number, RFC 9051 §2.3.1.1), shared between
        # sessions that hold the same map: treat self.uids as read-only outside _edit().
        self.uids = _share(self.id, uids)
        self.modseq = modseq              # changes up to here are reflected in self.uids
        self.uidnext = mailbox.uidnext
        self.pending_expunge: set[int] = set()
        # Flag changes this session already reported itself (uid -> modseq): not repeated.
        self.reported: dict[int, int] = {}
        self.deleted_by_client = False
        # The keywords announced in FLAGS (lower-case -> as first seen, RFC 9051 §2.3.2).
        self.keywords = {k.lower(): k for k in keywords}

    def announce_flags(self, session: "Session") -> None:
        """FLAGS and PERMANENTFLAGS: the system flags and the keywords in use
        (RFC 9051 §7.3.5, §7.1: sent at SELECT and again whenever a new keyword appears)."""
        flags = " ".join(SYSTEM_FLAGS + tuple(self.keywords.values()))
        session.untagged(f"FLAGS ({flags})")
        if self.readonly:
            session.untagged("OK [PERMANENTFLAGS ()] Read-only mailbox")
        else:
            session.untagged(f"OK [PERMANENTFLAGS ({flags} \\*)] Flags permitted")

    def note_flags(self, session: "Session", flag_sets: Iterable[tuple[str, ...]]) -> None:
        """Announces FLAGS again when these flag sets hold a keyword not announced yet."""
        new = False
        for flags in set(flag_sets):
            for f in flags:
                if not f.startswith("\\") and f.lower() not in self.keywords:
                    self.keywords[f.lower()] = f
                    new = True
        if new:
            self.announce_flags(session)

    def __len__(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        i = bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def known(self, uids: Iterable[int]) -> list[int]:
        """The store's uids this session has sequence numbers for, in the given order.

        A uid leaves the map only once the store reported it expunged, and new uids are always
        above every older one, so of the uids the store still holds, the map has exactly those
        up to its highest: one compare each, no lookup."""
        top = self.uids[-1] if self.uids else 0
        return [u for u in uids if u <= top]

    def seqs_of(self, uids: Sequence[int]) -> list[int]:
        """Sequence numbers of the uids the map holds (others left out), in the given order."""
        return [n for n, _ in self.numbered(uids)]

    def numbered(self, uids: Sequence[int]) -> list[tuple[int, int]]:
        """(sequence number, uid) of the uids the map holds (others left out), in the given
        order: a bisect each for a few, one lookup table for many."""
        if len(uids) < 64:
            get = self.seq_of
        else:
            get = dict(zip(self.uids, range(1, len(self.uids) + 1))).get
        return [(n, u) for n, u in zip(map(get, uids), uids) if n is not None]

    def remove(self, session: "Session", uids: Iterable[int]) -> None:
        """Drops uids from the map and announces them (EXPUNGE or VANISHED)."""
        gone = sorted(u for u in set(uids) if self.seq_of(u) is not None)
        if not gone:
            return
        if session.qresync:
            session.untagged(f"VANISHED {compress_uids(gone)}")
        else:
            # Highest first, so each number is still valid when the client applies it.
            left = UidMap(_UID, self.uids)
            for uid in reversed(gone):
                i = bisect_left(left, uid)
                session.untagged(f"{i + 1} EXPUNGE")
                # deleting one element from the array keeps later positions right
                del left[i]
            self.uids = _share(self.id, left)
            self.pending_expunge.difference_update(gone)
            return
        goneset = set(gone)
        self.uids = _share(self.id, UidMap(_UID, (u for u in self.uids if u not in goneset)))
        self.pending_expunge.difference_update(gone)

    def add(self, uids: Iterable[int]) -> None:
        top = self.uids[-1] if self.uids else 0
        new = sorted(u for u in uids if u > top)
        if new:
            # Thousands of sessions idling on one mailbox all grow the same map by the same
            # uids: the first builds the new map, the others take it without a copy or a
            # compare (it remembers what it grew from, weakly, and by what).
            current = _shared.get(self.id)
            grown_from = getattr(current, "grown_from", None)
            if grown_from is not None and grown_from() is self.uids \
                    and current.grown_by == new:
                self.uids = current
                return
            grown = UidMap(_UID, self.uids)
            grown.extend(new)
            grown.grown_from = weakref.ref(self.uids)
            grown.grown_by = new
            self.uids = _share(self.id, grown)

    async def report_changes(self, session: "Session", *, allow_expunge: bool) -> None:
        """Reads the change log since the last look and announces what the client may hear."""
        store = session.store
        try:
            changes = await store.changes_since(self.account_id, self.id, self.modseq)
        except NotFound:
            # Another session deleted the mailbox: nothing sensible is left to number
            # (RFC 9051 §7.1.5 lets the server end the connection with BYE).
            from postroom.imap.session import Closed
            session.untagged("BYE [NONEXISTENT] The selected mailbox was deleted")
            await session.flush()
            raise Closed("selected mailbox deleted")
        self.apply_changes(session, changes, allow_expunge=allow_expunge)

    def state_key(self, session: "Session") -> tuple | None:
        """Everything ``apply_changes`` reads besides the changes: two sessions with equal keys
        given the same changes write the same bytes and end in the same state. None when the
        session holds something of its own (held-back expunges, flag changes it reported)."""
        if self.pending_expunge or self.reported:
            return None
        return (id(self.uids), self.modseq, self.uidnext, session.condstore, session.qresync,
                tuple(self.keywords.items()))

    def take_state(self, other: "SelectedMailbox") -> None:
        """Becomes what ``other`` became after ``apply_changes`` from an equal ``state_key``."""
        self.uids = other.uids
        self.modseq = other.modseq
        self.uidnext = other.uidnext
        if self.keywords != other.keywords:
            self.keywords = dict(other.keywords)

    def apply_changes(self, session: "Session", changes: Changes, *,
                      allow_expunge: bool) -> None:
        """Announces ``changes`` (read from ``self.modseq``) into the session's output and
        brings the map up to them. Synchronous, so nothing else runs in between."""
        vanished = set(changes.vanished)
        if changes.modseq <= self.modseq and not (allow_expunge and self.pending_expunge):
            self.reported.clear()
            return
        self.pending_expunge.update(u for u in vanished if self.seq_of(u) is not None)
        if allow_expunge and self.pending_expunge:
            self.remove(session, self.pending_expunge)
        top = self.uids[-1] if self.uids else 0
        self.note_flags(session, (e.flags for e in changes.changed))
        new = [e.uid for e in changes.changed if e.uid > top and e.uid not in vanished]
        if new:
            self.add(new)
            session.untagged(f"{len(self.uids)} EXISTS")
        for e in changes.changed:
            if e.uid > top or e.uid in self.pending_expunge:
                continue
            if self.reported.get(e.uid) == e.modseq:
                continue
            seq = self.seq_of(e.uid)
            if seq is None:
                continue
            modseq = f" MODSEQ ({e.modseq})" if session.condstore else ""
            session.untagged(f"{seq} FETCH (UID {e.uid} FLAGS {flag_list(e.flags)}{modseq})")
        self.reported.clear()
        self.modseq = max(self.modseq, changes.modseq)
        self.uidnext = max(self.uidnext, changes.uidnext)
