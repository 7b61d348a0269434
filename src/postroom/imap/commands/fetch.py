"""FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2): served from the store's index rows, with body
sections cut from the blob by the stored part offsets; BINARY (RFC 3516), CONDSTORE CHANGEDSINCE
and QRESYNC VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6), OBJECTID (RFC 8474), PREVIEW
(RFC 8970), SAVEDATE (RFC 8514). Rows are read as plain tuples a chunk of uids at a time (the
next chunk while this one is written), only the bytes a section needs are read from the blob,
and the answer is written as it grows, so FETCH 1:* on 100,000 messages streams in bounded
memory with no Python object per message beyond its row."""

from __future__ import annotations

import asyncio
import re
from bisect import bisect_left
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Callable, Sequence

from postroom.imap.args import (Args, Bad, No, as_text, compress_uids, format_date_time,
                                number, parse_sequence_set, uid_ranges, uids_in)
from postroom.imap.selected import SelectedMailbox, flag_list
from postroom.imap.wire import Command, String
from postroom.mail import sections
from postroom.mail.imapquote import nstring
from postroom.mail.message import Part
from postroom.mail.sections import SectionSpec, UnknownEncoding
from postroom.store import api

if TYPE_CHECKING:
    from postroom.imap.session import Session

# Uids per store query: index rows alone are small; with message bytes fewer are in flight.
CHUNK = 2000
SECTION_CHUNK = 500

_SECTION_ITEM = re.compile(r"(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[([^\]]*)\]"
                           r"(?:<(\d{1,10})\.(\d{1,10})>)?\Z", re.IGNORECASE | re.DOTALL)
_MACROS = {"ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
           "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
           "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]}
_SIMPLE = {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "UID",
           "MODSEQ", "EMAILID", "THREADID", "SAVEDATE", "PREVIEW", "RFC822", "RFC822.HEADER",
           "RFC822.TEXT"}


@dataclass(slots=True)
class Section:
    """One BODY[...]/BINARY[...] item: the section-spec (cut by ``mail.sections``) and how the
    door answers it."""
    kind: str                 # "BODY", "BINARY", "BINARY.SIZE"
    peek: bool
    spec: SectionSpec
    partial: tuple[int, int] | None
    label: str                # as echoed in the response, e.g. BODY[HEADER.FIELDS (FROM)]


class _FlagLists(dict):
    """``(\\Seen $Work)`` per distinct flag tuple: a mailbox has few flag sets, so each list is
    made once (the store gives equal tuples for equal sets)."""

    def __missing__(self, flags: tuple[str, ...]) -> bytes:
        b = flag_list(flags).encode()
        if len(self) < 4096:
            self[flags] = b
        return b


_FLAG_LISTS = _FlagLists()


class _FlagBitLists(dict):
    """The same lists by the store's ``(bits, keywords)`` pair (``Store.entry_flags``)."""

    def __missing__(self, key: tuple[int, str]) -> bytes:
        b = _FLAG_LISTS[api.flags_of(*key)]
        if len(self) < 4096:
            self[key] = b
        return b


_FLAG_BIT_LISTS = _FlagBitLists()


def _date_time(ts: int) -> bytes:
    return format_date_time(ts).encode()


def _save_date(ts: int | None) -> bytes:
    return format_date_time(ts).encode() if ts else b"NIL"


# Items answered from the index row: where the value is (0 uid, 1 modseq, 2 flags, or a store
# field), the item's template, and the conversion of the value (None: written as it is).
_ROW_ITEMS: dict[str, tuple[int | str, bytes, Callable | None]] = {
    "UID": (0, b"UID %d", None),
    "MODSEQ": (1, b"MODSEQ (%d)", None),
    "FLAGS": (2, b"FLAGS %s", _FLAG_LISTS.__getitem__),
    "INTERNALDATE": ("internal_date", b"INTERNALDATE %s", _date_time),
    "RFC822.SIZE": ("size", b"RFC822.SIZE %d", None),
    "ENVELOPE": ("envelope", b"ENVELOPE %s", None),
    "BODYSTRUCTURE": ("bodystructure", b"BODYSTRUCTURE %s", None),
    "BODY": ("body", b"BODY %s", None),
    "EMAILID": ("message_id", b"EMAILID (E%d)", None),
    "THREADID": ("thread_id", b"THREADID (T%d)", None),
    "SAVEDATE": ("save_date", b"SAVEDATE %s", _save_date),
    "PREVIEW": ("preview", b"PREVIEW %s", nstring),
}


# RFC822, RFC822.HEADER and RFC822.TEXT are BODY[], BODY.PEEK[HEADER] and BODY[TEXT] under
# their old names (RFC 9051 §6.4.5, RFC 3501 §6.4.5).
_RFC822_ITEMS = {"RFC822": ("", False), "RFC822.HEADER": ("HEADER", True),
                 "RFC822.TEXT": ("TEXT", False)}


@dataclass(slots=True)
class Plan:
    items: list                # str names and Section objects, in request order
    sets_seen: bool

    @property
    def sections(self) -> list[Section]:
        return [i for i in self.items if isinstance(i, Section)]


def parse_items(tok) -> Plan:
    raw = tok if isinstance(tok, list) else [tok]
    if not isinstance(tok, list) and isinstance(tok, str) and tok.upper() in _MACROS:
        raw = list(_MACROS[tok.upper()])
    if not raw:
        raise Bad("Empty FETCH item list")
    items: list = []
    sets_seen = False
    i = 0
    while i < len(raw):
        t = raw[i]
        i += 1
        if not isinstance(t, str) or isinstance(t, String):
            raise Bad("FETCH items are atoms")
        name = t.upper()
        if name == "PREVIEW" and i < len(raw) and isinstance(raw[i], list):
            i += 1   # RFC 8970 modifiers (LAZY): the preview is always ready here
        if name in _RFC822_ITEMS:
            kind, peek = _RFC822_ITEMS[name]
            items.append(Section("BODY", peek, SectionSpec((), kind), None, name))
            sets_seen = sets_seen or not peek
            continue
        if name in _SIMPLE:
            items.append(name)
            continue
        if name in _MACROS:
            raise Bad(f"{name} is a macro and cannot be in a list")
        sec = parse_section_item(str(t))
        items.append(sec)
        if not sec.peek and sec.kind != "BINARY.SIZE":
            sets_seen = True
    return Plan(items, sets_seen)


def parse_section_item(text: str) -> Section:
    m = _SECTION_ITEM.match(text)
    if not m:
        raise Bad(f"Unknown FETCH item {text[:40]}")
    kind = m.group(1).upper()
    peek = kind.endswith(".PEEK")
    kind = kind.removesuffix(".PEEK")
    try:
        spec = sections.parse_section(m.group(2))
    except ValueError:
        raise Bad(f"Invalid section {m.group(2)[:40]}") from None
    if kind != "BODY" and spec.kind:
        raise Bad("BINARY takes only part numbers")  # RFC 3516 §4.2
    partial = None
    if m.group(3) is not None:
        if kind == "BINARY.SIZE":
            raise Bad("BINARY.SIZE takes no partial")
        partial = (int(m.group(3)), int(m.group(4)))
        if partial[1] == 0:
            raise Bad("Partial length must be positive")
    label_spec = ".".join(x for x in (spec.number, spec.kind) if x)
    if spec.fields:
        label_spec += f" ({' '.join(spec.fields)})"
    label = f"{kind}[{label_spec}]"
    if partial is not None:
        label += f"<{partial[0]}>"
    return Section(kind, peek, spec, partial, label)


# --- the command --------------------------------------------------------------------------------

async def fetch(s: "Session", cmd: Command) -> tuple[str | None, str] | str:
    view = s.selected
    assert view is not None
    a = Args(cmd.args)
    by_uid = cmd.name == "UID FETCH"
    uids = resolve_set(s, a.atom("sequence set"), by_uid)
    plan = parse_items(a.next("fetch items"))
    changed_since = None
    want_vanished = False
    if a.more():
        mods = a.list("fetch modifiers")
        i = 0
        while i < len(mods):
            m = as_text(mods[i]).upper()
            if m == "CHANGEDSINCE" and i + 1 < len(mods):
                changed_since = number(mods[i + 1], "mod-sequence")
                s.enabled.add("CONDSTORE")
                i += 2
            elif m == "VANISHED":
                if not by_uid or not s.qresync:
                    raise Bad("VANISHED needs UID FETCH and QRESYNC enabled")
                want_vanished = True
                i += 1
            else:
                raise Bad(f"Unknown FETCH modifier {m[:30]}")
        if want_vanished and changed_since is None:
            raise Bad("VANISHED needs CHANGEDSINCE")   # RFC 7162 §3.2.6
    a.end()
    if "MODSEQ" in plan.items:
        s.enabled.add("CONDSTORE")
    if by_uid and "UID" not in plan.items:
        plan.items.insert(0, "UID")
    if want_vanished and changed_since is not None:
        ch = await s.store.changes_since(view.account_id, view.id, changed_since)
        requested = _requested_ranges(a.tokens[0], view)
        gone = [u for u in ch.vanished if any(lo <= u <= hi for lo, hi in requested)]
        if gone:
            s.untagged(f"VANISHED (EARLIER) {compress_uids(sorted(gone))}")
    missing = await emit_fetch(s, view, uids, plan, changed_since=changed_since)
    if missing and not by_uid:
        # RFC 5530: messages expunged by another session whose expunge is not announced yet.
        raise No("Some of the requested messages no longer exist", "EXPUNGEISSUED")
    return "FETCH completed"


def _requested_ranges(tok, view: SelectedMailbox) -> list[tuple[int, int]]:
    return uid_ranges(parse_sequence_set(str(tok)), view.uids)


def resolve_set(s: "Session", text: str, by_uid: bool) -> list[int]:
    """A sequence set (or "$", RFC 5182) to the uids it names in the selected mailbox."""
    view = s.selected
    assert view is not None
    if text == "$":
        have = set(view.uids)
        return [u for u in s.searchres if u in have]
    from postroom.imap.args import seq_ranges_to_uid_ranges
    ranges = parse_sequence_set(text)
    if by_uid:
        return uids_in(uid_ranges(ranges, view.uids), view.uids)
    return uids_in(seq_ranges_to_uid_ranges(ranges, view.uids), view.uids)


async def emit_fetch(s: "Session", view: SelectedMailbox, uids: list[int], plan: Plan, *,
                     changed_since: int | None = None) -> int:
    """Writes the FETCH responses; returns how many requested messages no longer exist.

    Rows come from the store as plain tuples, a chunk of uids per query; message bytes are read
    only for the spans the sections need, a group of messages per thread hop, the next group
    read while this one is written."""
    missing = 0
    # RFC 4314 §4: without the "s" right a non-PEEK fetch leaves \Seen alone.
    set_seen = plan.sets_seen and not view.readonly and "s" in view.rights
    want_modseq = s.condstore and ("FLAGS" in plan.items or "MODSEQ" in plan.items
                                   or changed_since is not None)
    r = _Renderer(plan, want_modseq)
    size = SECTION_CHUNK if r.sections else CHUNK
    chunks = [uids[i:i + size] for i in range(0, len(uids), size)]

    def load(k: int) -> asyncio.Future | None:
        if k >= len(chunks):
            return None
        if r.entry_only:
            return asyncio.ensure_future(
                s.store.entry_flags(view.account_id, view.id, chunks[k]))
        return asyncio.ensure_future(
            s.store.fetch_tuples(view.account_id, view.id, chunks[k], r.fields))
    # The store reads the next chunk while this one is rendered and written.
    pending = load(0)
    try:
        for k, chunk in enumerate(chunks):
            rows = await pending
            pending = load(k + 1)
            missing += len(chunk) - len(rows)
            if changed_since is not None:
                rows = [row for row in rows if row[1] > changed_since]
            seen_now: set[int] = set()
            if set_seen:
                rows = await _set_seen(s, view, rows, seen_now)
            if r.sections:
                await _send_with_sections(s, view, r, rows, seen_now)
            else:
                seqs, rows = _numbered(view, rows)
                s.send(b"".join(r.lines(seqs, rows)))
                await s.maybe_flush()
    finally:
        _drop(pending)
    return missing


async def _send_with_sections(s: "Session", view: SelectedMailbox, r: "_Renderer",
                              rows: list[tuple], seen_now: set[int]) -> None:
    """Message bytes are read a group per thread hop, the next group while this one is sent."""
    groups = r.read_groups(rows)

    def load(k: int) -> asyncio.Future | None:
        return asyncio.ensure_future(r.read(s, groups[k])) if k < len(groups) else None
    pending = load(0)
    try:
        for k, group in enumerate(groups):
            bodies = await pending
            pending = load(k + 1)
            numbers, kept = _numbered(view, [g[0] for g in group])
            if r.glues is not None and not seen_now and len(kept) == len(group):
                out: list[bytes] = []
                pieces = r.pieces
                for seq, (row, _, _, _, spans), (raw, base) in zip(numbers, group, bodies):
                    pieces(out, seq, row, spans, raw, base)
                s.send_pieces(out)
            else:
                seqs = dict(zip(map(itemgetter(0), kept), numbers))
                for (row, root, _, _, spans), (raw, base) in zip(group, bodies):
                    seq = seqs.get(row[0])
                    if seq is not None:
                        r.send_with_sections(s, seq, row, root, spans, raw, base,
                                             row[0] in seen_now)
            await s.maybe_flush()
    finally:
        _drop(pending)


def _drop(pending: asyncio.Future | None) -> None:
    """Abandons a read ahead (the command failed or ended early), its outcome included."""
    if pending is not None and not pending.cancel() and not pending.cancelled():
        pending.exception()


def _numbered(view: SelectedMailbox, rows: list[tuple]) -> tuple[Sequence[int], list[tuple]]:
    """The sequence numbers of the rows still in the session's view, and those rows. Rows
    ascend by uid; usually they are a run of the view's uid array, numbered at once."""
    if not rows:
        return [], rows
    uids = view.uids
    first = bisect_left(uids, rows[0][0])
    last = first + len(rows) - 1
    # Rows are for uids taken from the view, so when both ends match, so does all between.
    if last < len(uids) and uids[first] == rows[0][0] and uids[last] == rows[-1][0]:
        return range(first + 1, last + 2), rows
    seqs: list[int] = []
    kept: list[tuple] = []
    for row in rows:
        seq = view.seq_of(row[0])
        if seq is not None:
            seqs.append(seq)
            kept.append(row)
    return seqs, kept


async def _set_seen(s: "Session", view: SelectedMailbox, rows: list[tuple],
                    seen_now: set[int]) -> list[tuple]:
    """RFC 9051 §6.4.5: BODY[...] (not PEEK) sets \\Seen; the rows get the new flags."""
    unseen = [row[0] for row in rows if api.SEEN not in row[2]]
    if not unseen:
        return rows
    res = await s.store.store_flags(view.account_id, view.id, unseen, "add", [api.SEEN])
    by = {c.uid: c for c in res.changed}
    out = []
    for row in rows:
        c = by.get(row[0])
        if c is not None:
            row = (row[0], c.modseq, c.flags, *row[3:])
            seen_now.add(c.uid)
            view.reported[c.uid] = c.modseq
        out.append(row)
    return out


# Bytes of message data read per thread hop when serving sections.
READ_GROUP_BYTES = 4 << 20


class _Renderer:
    """A plan compiled once per command. Items from the index row become one bytes template
    per response and one column of values per item, so a chunk of rows is rendered with a
    list comprehension per column and one ``%`` per message, not a call per item."""

    def __init__(self, plan: Plan, want_modseq: bool):
        self.fields: list[str] = []          # store fields to read after uid, modseq, flags
        self.items = list(plan.items)
        # RFC 7162 §3.1.4.1: with CONDSTORE on, FLAGS come with the MODSEQ.
        if want_modseq and "FLAGS" in self.items and "MODSEQ" not in self.items:
            self.items.append("MODSEQ")
        self.sections = plan.sections
        # Per item: (row index, template, conversion); None for a section.
        self.row_items = [None if isinstance(item, Section) else self._row_item(item)
                          for item in self.items]
        self.template = b"* %d FETCH (" + b" ".join(
            t for _, t, _ in filter(None, self.row_items)) + b")\r\n"
        # UID, MODSEQ and FLAGS alone (FETCH 1:* FLAGS, a client's resync) are read as the
        # store's (uid, modseq, bits, keywords) rows; FLAGS is then looked up by (bits, keywords).
        self.entry_only = not self.fields and not self.sections
        self.columns = [(itemgetter(2, 3), _FLAG_BIT_LISTS.__getitem__)
                        if self.entry_only and i == 2 else (itemgetter(i), conv)
                        for i, _, conv in filter(None, self.row_items)]
        # RFC 9051 §6.4.5: a \Seen set as a side effect is reported in the same response.
        self.if_seen = [] if "FLAGS" in self.items else \
            [self._row_item(x) for x in ("FLAGS", "MODSEQ")
             if x == "FLAGS" or (want_modseq and x not in self.items)]
        if self.sections:
            self.blob_i = self._field("blob")
            self.size_i = self._field("size")
            # Where each message's section offsets come from: none are needed when every
            # section is the whole message; the packed common spans serve BODY[1], [HEADER],
            # [TEXT] and the like; the part tree, decoded per message, serves the rest.
            self.spans_i = self.parts_i = None
            if all(_is_common(sec) for sec in self.sections):
                if any(sec.spec != _WHOLE for sec in self.sections):
                    self.spans_i = self._field("spans")
            else:
                self.parts_i = self._field("parts")
            self.glues = self._glues()

    def _glues(self) -> list[tuple[bytes, list, Section | None]] | None:
        """For plans whose sections are all BODY[...] of the common spans (BODY[], BODY[1],
        BODY[HEADER], BODY[HEADER.FIELDS (...)], RFC822...): each response as a template per
        section - everything from the last section's data to this section's literal length,
        row items included - and one for the tail; so a message costs a ``%`` per section.
        None: the general path (BINARY, other parts)."""
        if not all(sec.kind == "BODY" and _is_common(sec) for sec in self.sections):
            return None
        glues: list[tuple[bytes, list, Section | None]] = []
        text, getters, sep = [b"* %d FETCH ("], [], b""
        for item, row_item in zip(self.items, self.row_items):
            if row_item is None:
                label = item.label.encode("utf-8", "surrogateescape").replace(b"%", b"%%")
                text.append(sep + label + b" {%d}\r\n")
                glues.append((b"".join(text), getters, item))
                text, getters = [], []
            else:
                where, template, conv = row_item
                text.append(sep + template)
                getters.append((itemgetter(where), conv))
            sep = b" "
        text.append(b")\r\n")
        glues.append((b"".join(text), getters, None))
        return glues

    def _field(self, name: str) -> int:
        if name not in self.fields:
            self.fields.append(name)
        return 3 + self.fields.index(name)

    def _row_item(self, item: str) -> tuple[int, bytes, Callable | None]:
        where, template, conv = _ROW_ITEMS[item]
        return (where if isinstance(where, int) else self._field(where)), template, conv

    def lines(self, seqs: Sequence[int], rows: list[tuple]) -> list[bytes]:
        """The responses for rows of a plan without sections."""
        cols = [list(map(conv, map(get, rows))) if conv else list(map(get, rows))
                for get, conv in self.columns]
        template = self.template
        return [template % values for values in zip(seqs, *cols)]

    # --- sections: which bytes to read, then cut -----------------------------------------------

    def read_groups(self, rows: list[tuple]) -> list[list[tuple]]:
        """(row, part tree, start, end, spans) per row: ``start:end`` is the span of the
        message its sections need, ``spans`` each section's; in groups of about
        READ_GROUP_BYTES."""
        groups: list[list[tuple]] = []
        group: list[tuple] = []
        total = 0
        specs = [sec.spec for sec in self.sections]
        root = None
        common_span = sections.common_span
        single = len(specs) == 1
        for row in rows:
            if self.parts_i is not None:
                root = Part.from_json(row[self.parts_i])
                spans = [sections.section_span(root, spec) for spec in specs]
            elif self.spans_i is not None:
                packed = row[self.spans_i]
                spans = [common_span(packed, spec) for spec in specs]
            else:
                spans = [(0, row[self.size_i])] * len(specs)
            if single:      # the usual case, without the generators below
                lo, hi = spans[0] if spans[0] is not None else (0, 0)
            else:
                present = [span for span in spans if span is not None]
                lo = min((span[0] for span in present), default=0)
                hi = max((span[1] for span in present), default=0)
            group.append((row, root, lo, hi, spans))
            total += hi - lo
            if total >= READ_GROUP_BYTES:
                groups.append(group)
                group, total = [], 0
        if group:
            groups.append(group)
        return groups

    async def read(self, s: "Session", group: list[tuple]) -> list[tuple[bytes, int]]:
        """(raw, base) per row of a group: ``raw`` holds the message from offset ``base``."""
        size_i = self.size_i
        # The whole message is asked for as such (end None): the store reads it in one piece;
        # a part is read as a range, leaving the rest of the message unread.
        datas = iter(await s.store.read_blobs([
            (row[self.blob_i], lo, None if lo == 0 and hi == row[size_i] else hi)
            for row, _, lo, hi, _ in group if hi > lo]))
        return [(next(datas) if hi > lo else b"", lo) for _, _, lo, hi, _ in group]

    def pieces(self, out: list, seq: int, row: tuple, spans: list, raw: bytes,
               base: int) -> None:
        """The response through the compiled ``glues``: header, data, ..., tail."""
        values: list = [seq]
        for (template, getters, sec), span in zip(self.glues, spans):
            for get, conv in getters:
                values.append(conv(get(row)) if conv else get(row))
            start, end = span[0] - base, span[1] - base
            # Whole ``raw`` (a single section is read as just its span): no slice, no copy.
            data = raw if start == 0 and end == len(raw) else raw[start:end]
            if sec.spec.fields:
                data = sections.filter_header(data, sec.spec.fields,
                                              sec.spec.kind == "HEADER.FIELDS.NOT")
            if sec.partial is not None:
                data = data[sec.partial[0]:sec.partial[0] + sec.partial[1]]
            values.append(len(data))
            out.append(template % tuple(values))
            out.append(data)
            values = []
        template, getters, _ = self.glues[-1]
        for get, conv in getters:
            values.append(conv(get(row)) if conv else get(row))
        out.append(template % tuple(values) if values else template)

    def send_with_sections(self, s: "Session", seq: int, row: tuple, root: Part | None,
                           spans: list, raw: bytes, base: int, seen_now: bool) -> None:
        """Writes the response in pieces, so a big literal is copied once, not per layer."""
        s.send(b"* %d FETCH (" % seq)
        sep = b""
        spans_left = iter(spans)
        for item, row_item in zip(self.items, self.row_items):
            if row_item is None:
                head, data = _section_item(item, raw, base, root, next(spans_left))
                s.send(sep + head)
                s.send(data)
            else:
                s.send(sep + _one_item(row_item, row))
            sep = b" "
        if seen_now:
            for row_item in self.if_seen:
                s.send(b" " + _one_item(row_item, row))
        s.send(b")\r\n")


def _one_item(row_item: tuple[int, bytes, Callable | None], row: tuple) -> bytes:
    i, template, conv = row_item
    return template % (conv(row[i]) if conv else row[i])


_WHOLE = SectionSpec()


def _is_common(sec: Section) -> bool:
    """Whether the packed common spans answer the section (BINARY of a part must decode it,
    knowing its encoding from the part tree)."""
    return sections.is_common(sec.spec) and (sec.kind == "BODY" or not sec.spec.part)


def _section_item(sec: Section, raw: bytes, base: int, root: Part | None,
                  span: tuple[int, int] | None) -> tuple[bytes, bytes]:
    """The item's name and literal header, and the literal's data (sent as is, not copied)."""
    try:
        if span is None:
            data = None
        elif sec.kind == "BODY" or not sec.spec.part:
            data = sections.section_bytes(raw, root, sec.spec, base, span)
        else:
            assert root is not None     # not a common section: the tree was decoded
            data = sections.binary_bytes(raw, root, sec.spec, base)
    except UnknownEncoding:
        raise No("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE") from None
    if data is None:
        # RFC 9051 §6.4.5: a part that does not exist is returned empty, not an error.
        data = b""
    if sec.kind == "BINARY.SIZE":
        return f"BINARY.SIZE[{sec.spec.number}] {len(data)}".encode(), b""
    if sec.partial is not None:
        start, length = sec.partial
        data = data[start:start + length]
    tilde = b"~" if sec.kind == "BINARY" and b"\x00" in data else b""
    return sec.label.encode("utf-8", "surrogateescape") + b" %s{%d}\r\n" % (tilde, len(data)), data


HANDLERS = {"FETCH": fetch, "UID FETCH": fetch}
