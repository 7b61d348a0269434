"""SEARCH (RFC 9051 §6.4.4, every search key, with ESEARCH RFC 4731, SEARCHRES RFC 5182,
CONDSTORE MODSEQ RFC 7162 §3.1.5, WITHIN RFC 5032, SAVEDATE RFC 8514, OBJECTID RFC 8474),
SORT with SORT=DISPLAY (RFC 5256, RFC 5957) and THREAD (RFC 5256 ORDEREDSUBJECT and
REFERENCES). The keys become a store.search Criteria tree; the store evaluates it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from postroom.imap.args import (Args, Bad, No, as_text, compress_uids, flag, number,
                                parse_sequence_set, search_date, seq_ranges_to_uid_ranges,
                                uid_ranges)
from postroom.imap.selected import SelectedMailbox
from postroom.imap.wire import Command
from postroom.store import api
from postroom.store import search as S

if TYPE_CHECKING:
    from postroom.imap.session import Session

CHARSETS = ("UTF-8", "US-ASCII")
DAY = 86400


class _Keys:
    def __init__(self, s: "Session", tokens: list):
        self.s = s
        self.t = tokens
        self.i = 0
        self.max_modseq = False

    def next(self, what: str):
        if self.i >= len(self.t):
            raise Bad(f"Missing {what}")
        tok = self.t[self.i]
        self.i += 1
        return tok

    def text(self) -> str:
        return as_text(self.next("search string"), "search string")

    def all(self) -> S.Criteria:
        items = []
        while self.i < len(self.t):
            items.append(self.key())
        if not items:
            raise Bad("Missing search criteria")
        return items[0] if len(items) == 1 else S.And(tuple(items))

    def key(self, depth: int = 0) -> S.Criteria:
        if depth > 100:
            raise Bad("Search criteria nested too deep")
        tok = self.next("search key")
        if isinstance(tok, list):
            sub = _Keys(self.s, tok)
            sub.max_modseq = self.max_modseq
            items = []
            while sub.i < len(sub.t):
                items.append(sub.key(depth + 1))
            self.max_modseq = self.max_modseq or sub.max_modseq
            if not items:
                raise Bad("Empty parenthesized search key")
            return items[0] if len(items) == 1 else S.And(tuple(items))
        if not isinstance(tok, str):
            raise Bad("Expected a search key")
        k = tok.upper()
        view = self.s.selected
        assert view is not None
        simple = _FLAG_KEYS.get(k)
        if simple is not None:
            f, positive = simple
            return S.Flag(f) if positive else S.Not(S.Flag(f))
        if k == "ALL":
            return S.All()
        if k in ("NEW", "RECENT"):
            # No \Recent in Postroom (IMAP4rev2 dropped it): nothing is recent.
            return S.Not(S.All())
        if k == "OLD":
            return S.All()
        if k in ("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"):
            return S.Text(k.lower(), self.text())
        if k == "HEADER":
            name = as_text(self.next("header name")).lower()
            value = self.text()
            if name in ("from", "to", "cc", "bcc", "subject") and value:
                return S.Text(name, value)
            if not value:
                # RFC 9051: an empty string matches every message with the field.
                return S.Text("header:" + name, "")
            return S.Text("header:" + name, value)
        if k in ("KEYWORD", "UNKEYWORD"):
            f = flag(self.next("keyword"))
            return S.Flag(f) if k == "KEYWORD" else S.Not(S.Flag(f))
        if k in ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE",
                 "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):
            day = search_date(self.next("date"))
            field = "sent" if k.startswith("SENT") else "saved" if k.startswith("SAVED") \
                else "internal"
            rel = k.removeprefix("SENT").removeprefix("SAVED")
            if rel == "BEFORE":
                return S.DateRange(field, None, day)
            if rel == "ON":
                return S.DateRange(field, day, day + DAY)
            return S.DateRange(field, day, None)
        if k == "SAVEDATESUPPORTED":
            return S.All()
        if k in ("LARGER", "SMALLER"):
            n = number(self.next("size"))
            return S.Size(larger=n) if k == "LARGER" else S.Size(smaller=n)
        if k in ("OLDER", "YOUNGER"):
            n = number(self.next("interval"), nz=True)
            now = int(time.time())
            # RFC 5032: OLDER n is internal date more than n seconds ago.
            return S.DateRange("internal", None, now - n + 1) if k == "OLDER" \
                else S.DateRange("internal", now - n, None)
        if k == "NOT":
            return S.Not(self.key(depth + 1))
        if k == "OR":
            a = self.key(depth + 1)
            b = self.key(depth + 1)
            return S.Or((a, b))
        if k == "UID":
            text = as_text(self.next("uid set"))
            return self._uidset(text, by_uid=True)
        if k == "MODSEQ":
            # MODSEQ [entry-name entry-type] modseq (RFC 7162 §3.1.5)
            tok2 = self.next("mod-sequence")
            if isinstance(tok2, str) and not tok2.isdigit():
                raise Bad("Invalid MODSEQ")
            if not (isinstance(tok2, str) and tok2.isdigit()):
                self.next("entry type")
                tok2 = self.next("mod-sequence")
            self.max_modseq = True
            self.s.enabled.add("CONDSTORE")
            return S.ModSeq(number(tok2, "mod-sequence"))
        if k == "EMAILID":
            return S.EmailId((_objectid(self.text(), "E"),))
        if k == "THREADID":
            return S.ThreadId((_objectid(self.text(), "T"),))
        if k == "$" or k[:1].isdigit() or k[:1] == "*":
            return self._uidset(str(tok), by_uid=False)
        raise Bad(f"Unknown search key {k[:30]}")

    def _uidset(self, text: str, *, by_uid: bool) -> S.Criteria:
        view = self.s.selected
        assert view is not None
        if text == "$":
            res = self.s.searchres
            if not res:
                return S.Not(S.All())
            return S.UidSet(tuple((u, u) for u in res))
        ranges = parse_sequence_set(text)
        out = uid_ranges(ranges, view.uids) if by_uid else \
            seq_ranges_to_uid_ranges(ranges, view.uids)
        if not out:
            return S.Not(S.All())
        return S.UidSet(tuple(out))


def _objectid(text: str, prefix: str) -> int:
    if len(text) < 2 or text[0] != prefix or not text[1:].isdigit():
        return 0    # an id we never issued: matches nothing
    return int(text[1:])


_FLAG_KEYS = {
    "ANSWERED": (api.ANSWERED, True), "UNANSWERED": (api.ANSWERED, False),
    "DELETED": (api.DELETED, True), "UNDELETED": (api.DELETED, False),
    "DRAFT": (api.DRAFT, True), "UNDRAFT": (api.DRAFT, False),
    "FLAGGED": (api.FLAGGED, True), "UNFLAGGED": (api.FLAGGED, False),
    "SEEN": (api.SEEN, True), "UNSEEN": (api.SEEN, False),
}


def _charset(a: Args) -> None:
    tok = a.peek()
    if isinstance(tok, str) and tok.upper() == "CHARSET":
        a.next()
        cs = as_text(a.next("charset")).upper()
        if cs not in CHARSETS:
            raise No("Unsupported charset", "BADCHARSET (" + " ".join(CHARSETS) + ")")


async def search(s: "Session", cmd: Command) -> str:
    view = s.selected
    assert view is not None
    by_uid = cmd.name == "UID SEARCH"
    a = Args(cmd.args)
    ret: list[str] | None = None
    tok = a.peek()
    if isinstance(tok, str) and tok.upper() == "RETURN":
        a.next()
        ret = [as_text(t).upper() for t in a.list("return options")]
        for r in ret:
            if r not in ("MIN", "MAX", "COUNT", "ALL", "SAVE"):
                raise Bad(f"Unknown RETURN option {r[:30]}")
    _charset(a)
    keys = _Keys(s, a.tokens[a.i:])
    criteria = keys.all()
    uids = await s.store.search(view.account_id, view.id, criteria)
    present = view.known(uids)
    ids = present if by_uid else view.seqs_of(present)
    modseq = None
    if keys.max_modseq and present:
        modseq = max(e.modseq for e in await _entries(s, view, present))
    if ret is None and not s.rev2:
        line = "SEARCH" + "".join(f" {i}" for i in ids)
        if modseq is not None:
            line += f" (MODSEQ {modseq})"
        s.untagged(line)
        return "SEARCH completed"
    ret = ret if ret else ["ALL"]
    if "SAVE" in ret:
        only = [r for r in ret if r != "SAVE"]
        # RFC 5182 §2.4: with only MIN and/or MAX, only those are saved.
        if only and set(only) <= {"MIN", "MAX"} and present:
            saved = []
            if "MIN" in only:
                saved.append(present[0])
            if "MAX" in only:
                saved.append(present[-1])
            s.searchres = sorted(set(saved))
        else:
            s.searchres = present
        if only == []:
            return "SEARCH completed"   # RFC 5182: SAVE alone returns no ESEARCH
    parts = [f'ESEARCH (TAG "{cmd.tag}")']
    if by_uid:
        parts.append("UID")
    if ids:
        if "MIN" in ret:
            parts.append(f"MIN {ids[0]}")
        if "MAX" in ret:
            parts.append(f"MAX {ids[-1]}")
        if "ALL" in ret:
            parts.append(f"ALL {compress_uids(ids)}")
    if "COUNT" in ret:
        parts.append(f"COUNT {len(ids)}")
    if modseq is not None:
        parts.append(f"MODSEQ {modseq}")
    s.untagged(" ".join(parts))
    return "SEARCH completed"


async def _entries(s: "Session", view: SelectedMailbox, uids: list[int]) -> list[api.Entry]:
    out = []
    for i in range(0, len(uids), 1000):
        out += await s.store.entries(view.account_id, view.id, uids[i:i + 1000])
    return out


async def _rows(s: "Session", view: SelectedMailbox, uids: list[int], columns
                ) -> list[api.MessageRow]:
    out = []
    for i in range(0, len(uids), 500):
        out += await s.store.fetch(view.account_id, view.id, uids[i:i + 500], columns)
    return out


# --- SORT (RFC 5256 §3, RFC 5957) ---------------------------------------------------------------

# The store's order key (store.api.ORDER_KEYS) of each SORT key.
_SORT_ORDER = {"ARRIVAL": "arrival", "DATE": "date", "SIZE": "size", "SUBJECT": "subject",
               "FROM": "from", "TO": "to", "CC": "cc", "DISPLAYFROM": "display_from",
               "DISPLAYTO": "display_to"}


async def sort(s: "Session", cmd: Command) -> str:
    view = s.selected
    assert view is not None
    by_uid = cmd.name == "UID SORT"
    a = Args(cmd.args)
    spec = [as_text(t).upper() for t in a.list("sort criteria")]
    program: list[tuple[str, bool]] = []
    reverse = False
    for k in spec:
        if k == "REVERSE":
            reverse = True
            continue
        if k not in _SORT_ORDER:
            raise Bad(f"Unknown sort key {k[:30]}")
        program.append((k, reverse))
        reverse = False
    if not program or reverse:
        raise Bad("Invalid sort criteria")
    cs = as_text(a.next("charset")).upper()
    if cs not in CHARSETS:
        raise No("Unsupported charset", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    criteria = _Keys(s, a.tokens[a.i:]).all()
    # The store sorts (ties in uid order, RFC 5256 §3); messages this session has not been
    # told of yet (no sequence number) are left out.
    ordered = await s.store.search(view.account_id, view.id, criteria,
                                   [(_SORT_ORDER[k], rev) for k, rev in program])
    ids = view.known(ordered) if by_uid else view.seqs_of(ordered)
    s.untagged("SORT" + "".join(f" {i}" for i in ids))
    return "SORT completed"


# --- THREAD (RFC 5256 §4) -----------------------------------------------------------------------

def _ordered_subject(rows: list[api.MessageRow], ident) -> list:
    groups: dict[str, list[api.MessageRow]] = {}
    for r in sorted(rows, key=lambda r: (_date(r), r.uid)):
        groups.setdefault(r.sort_subject or "", []).append(r)
    threads = sorted(groups.values(), key=lambda g: (_date(g[0]), g[0].uid))
    out = []
    for g in threads:
        # The first message is the parent; the rest are its children, in date order.
        out.append((ident(g[0]), [(ident(r), []) for r in g[1:]]))
    return out


def _date(r: api.MessageRow) -> int:
    return r.sent_date if r.sent_date is not None else r.internal_date


def _references(rows: list[api.MessageRow], ident) -> list:
    """RFC 5256 §4 REFERENCES, steps 1-5 (subject merging of step 5 included)."""
    class C:
        __slots__ = ("mid", "row", "parent", "children")

        def __init__(self, mid):
            self.mid = mid
            self.row = None
            self.parent = None
            self.children = []

    table: dict[str, C] = {}

    def get(mid: str) -> C:
        c = table.get(mid)
        if c is None:
            c = table[mid] = C(mid)
        return c

    def ancestor(a: C, b: C) -> bool:
        while b is not None:
            if b is a:
                return True
            b = b.parent
        return False

    def link(parent: C, child: C) -> None:
        if child.parent is not None or ancestor(child, parent) or parent is child:
            return
        child.parent = parent
        parent.children.append(child)

    for r in rows:
        mid = r.header_message_id or f"<uid-{r.uid}>"
        c = get(mid)
        if c.row is not None:
            c = get(f"<dup-{r.uid}>")   # duplicate Message-ID: treat as unique (§4 step 1A)
        c.row = r
        refs = (r.references or "").split()
        if not refs and r.in_reply_to:
            refs = [r.in_reply_to]
        prev = None
        for ref in refs:
            rc = get(ref)
            if prev is not None and rc.parent is None:
                link(prev, rc)
            prev = rc
        if prev is not None and prev is not c:
            if c.parent is not None:
                c.parent.children.remove(c)
                c.parent = None
            link(prev, c)
    roots = [c for c in table.values() if c.parent is None]

    def prune(c: C) -> list:
        kids = []
        for ch in c.children:
            kids += prune(ch)
        c.children = kids
        for k in kids:
            k.parent = c
        if c.row is None:
            if not kids:
                return []
            if c.parent is not None or len(kids) == 1:
                return kids     # promote the children
        return [c]

    top: list = []
    for c in roots:
        c.parent = None
        top += prune(c)
    for c in top:
        c.parent = None

    def first_date(c: C) -> tuple:
        if c.row is not None:
            return (_date(c.row), c.row.uid)
        return min((first_date(k) for k in c.children), default=(0, 0))

    # Step 5: group roots by base subject.
    subj: dict[str, C] = {}
    merged: list = []
    for c in sorted(top, key=first_date):
        r = c.row if c.row is not None else (c.children[0].row if c.children else None)
        key = (r.sort_subject if r is not None else "") or ""
        if not key or key not in subj:
            if key:
                subj[key] = c
            merged.append(c)
            continue
        other = subj[key]
        if other.row is None:
            other.children.append(c)
        else:
            dummy = C(None)
            dummy.children = [other, c]
            merged[merged.index(other)] = dummy
            subj[key] = dummy

    def build(c: C) -> list:
        kids = sorted(c.children, key=first_date)
        if c.row is None:
            # A dummy at the top: its children are siblings under no message.
            return [n for k in kids for n in build(k)]
        return [(ident(c.row), [n for k in kids for n in build(k)])]

    out = []
    for c in sorted(merged, key=first_date):
        if c.row is None:
            kids = [n for k in sorted(c.children, key=first_date) for n in build(k)]
            if len(kids) == 1:
                out.append(kids[0])
            else:
                out.append(("__group__", kids))
        else:
            out += build(c)
    return out


def _render_all(threads: list) -> str:
    def node(n) -> str:
        ident, children = n
        if ident == "__group__":
            return "".join("(" + node(c) + ")" for c in children)
        if not children:
            return str(ident)
        if len(children) == 1:
            return f"{ident} {node(children[0])}"
        return f"{ident} " + "".join("(" + node(c) + ")" for c in children)
    return "".join("(" + node(t) + ")" for t in threads)


async def thread(s: "Session", cmd: Command) -> str:
    view = s.selected
    assert view is not None
    by_uid = cmd.name == "UID THREAD"
    a = Args(cmd.args)
    algo = a.atom("thread algorithm").upper()
    if algo not in ("ORDEREDSUBJECT", "REFERENCES"):
        raise Bad(f"Unsupported THREAD algorithm {algo[:30]}")
    cs = as_text(a.next("charset")).upper()
    if cs not in CHARSETS:
        raise No("Unsupported charset", "BADCHARSET (" + " ".join(CHARSETS) + ")")
    criteria = _Keys(s, a.tokens[a.i:]).all()
    uids = view.known(await s.store.search(view.account_id, view.id, criteria))
    rows = await _rows(s, view, uids, [api.FETCH_SORT, api.FETCH_THREADING])

    def ident(r: api.MessageRow):
        return r.uid if by_uid else view.seq_of(r.uid)

    tree = _ordered_subject(rows, ident) if algo == "ORDEREDSUBJECT" \
        else _references(rows, ident)
    s.untagged("THREAD " + _render_all(tree) if tree else "THREAD")
    return "THREAD completed"


HANDLERS = {"SEARCH": search, "UID SEARCH": search, "SORT": sort, "UID SORT": sort,
            "THREAD": thread, "UID THREAD": thread}
