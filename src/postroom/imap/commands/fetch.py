"""FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2): served from the store's index rows, with body
sections cut from the blob by the stored part offsets; BINARY (RFC 3516), CONDSTORE CHANGEDSINCE
and QRESYNC VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6), OBJECTID (RFC 8474), PREVIEW
(RFC 8970), SAVEDATE (RFC 8514). Rows are read 500 uids at a time and the answer written as it
grows, so FETCH 1:* on 100,000 messages streams in bounded memory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from postroom.imap.args import (Args, Bad, No, as_text, compress_uids, format_date_time,
                                number, parse_sequence_set, uid_ranges, uids_in)
from postroom.imap.selected import SelectedMailbox, flag_list
from postroom.imap.wire import Command, String, literal
from postroom.mail import sections
from postroom.mail.imapquote import nstring
from postroom.mail.message import Part
from postroom.mail.sections import SectionSpec, UnknownEncoding
from postroom.store import api

if TYPE_CHECKING:
    from postroom.imap.session import Session

CHUNK = 500

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

    @property
    def header_only(self) -> bool:
        return not self.spec.part and self.spec.kind.startswith("HEADER")


@dataclass(slots=True)
class Plan:
    items: list                # str names and Section objects, in request order
    columns: set[str]
    blob: str                  # "", "header" or "full"
    sets_seen: bool


def parse_items(tok) -> Plan:
    raw = tok if isinstance(tok, list) else [tok]
    if not isinstance(tok, list) and isinstance(tok, str) and tok.upper() in _MACROS:
        raw = list(_MACROS[tok.upper()])
    if not raw:
        raise Bad("Empty FETCH item list")
    items: list = []
    columns: set[str] = set()
    blob = ""
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
        if name in _SIMPLE:
            items.append(name)
            if name == "ENVELOPE":
                columns.add(api.FETCH_ENVELOPE)
            elif name == "BODYSTRUCTURE":
                columns.add(api.FETCH_BODYSTRUCTURE)
            elif name == "BODY":
                columns.add(api.FETCH_BODY)
            elif name == "PREVIEW":
                columns.add(api.FETCH_PREVIEW)
            elif name in ("RFC822", "RFC822.TEXT"):
                blob = "full"
                sets_seen = True
                columns.add(api.FETCH_PARTS)
            elif name == "RFC822.HEADER":
                blob = blob or "header"
                columns.add(api.FETCH_PARTS)
            continue
        if name in _MACROS:
            raise Bad(f"{name} is a macro and cannot be in a list")
        sec = parse_section_item(str(t))
        items.append(sec)
        columns.add(api.FETCH_PARTS)
        if sec.header_only:
            blob = blob or "header"
        else:
            blob = "full"
        if not sec.peek and sec.kind != "BINARY.SIZE":
            sets_seen = True
    return Plan(items, columns, blob, sets_seen)


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
        ch = await s.store.changes_since(s.account_id, view.id, changed_since)
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
    """Writes the FETCH responses; returns how many requested messages no longer exist."""
    missing = 0
    set_seen = plan.sets_seen and not view.readonly
    want_modseq = s.condstore and ("FLAGS" in plan.items or "MODSEQ" in plan.items
                                   or changed_since is not None)
    for start in range(0, len(uids), CHUNK):
        chunk = uids[start:start + CHUNK]
        rows = await s.store.fetch(s.account_id, view.id, chunk, plan.columns)
        missing += len(chunk) - len(rows)
        if changed_since is not None:
            rows = [r for r in rows if r.modseq > changed_since]
        seen_now: set[int] = set()
        if set_seen:
            unseen = [r.uid for r in rows if api.SEEN not in r.flags]
            if unseen:
                res = await s.store.store_flags(s.account_id, view.id, unseen, "add", [api.SEEN])
                by = {c.uid: c for c in res.changed}
                for r in rows:
                    c = by.get(r.uid)
                    if c is not None:
                        r.flags, r.modseq = c.flags, c.modseq
                        seen_now.add(r.uid)
                        view.reported[r.uid] = c.modseq
        for row in rows:
            seq = view.seq_of(row.uid)
            if seq is None:
                continue
            await _one(s, seq, row, plan, row.uid in seen_now, want_modseq)
            await s.maybe_flush()
    return missing


async def _one(s: "Session", seq: int, row: api.MessageRow, plan: Plan, seen_now: bool,
               want_modseq: bool) -> None:
    out: list[bytes] = []
    raw = b""
    root: Part | None = None
    if plan.blob:
        root = Part.from_json(row.parts) if row.parts else \
            Part("", 0, 0, row.size, "text/plain", "7bit")
        if plan.blob == "full":
            raw = await s.store.read_blob(row.blob)
        else:
            raw = await s.store.read_blob(row.blob, 0, root.body_start)
    did_flags = False
    did_modseq = False
    for item in plan.items:
        if isinstance(item, Section):
            out.append(_section_item(item, raw, root, s))
            continue
        if item == "UID":
            out.append(b"UID %d" % row.uid)
        elif item == "FLAGS":
            out.append(("FLAGS " + flag_list(row.flags)).encode())
            did_flags = True
        elif item == "INTERNALDATE":
            out.append(("INTERNALDATE " + format_date_time(row.internal_date)).encode())
        elif item == "RFC822.SIZE":
            out.append(b"RFC822.SIZE %d" % row.size)
        elif item == "ENVELOPE":
            out.append(b"ENVELOPE " + (row.envelope or b"NIL"))
        elif item == "BODYSTRUCTURE":
            out.append(b"BODYSTRUCTURE " + (row.bodystructure or b"NIL"))
        elif item == "BODY":
            out.append(b"BODY " + (row.body or b"NIL"))
        elif item == "MODSEQ":
            out.append(b"MODSEQ (%d)" % row.modseq)
            did_modseq = True
        elif item == "EMAILID":
            out.append(b"EMAILID (E%d)" % row.message_id)
        elif item == "THREADID":
            out.append(b"THREADID (T%d)" % row.thread_id)
        elif item == "SAVEDATE":
            out.append(b"SAVEDATE " + (format_date_time(row.save_date).encode()
                                       if row.save_date else b"NIL"))
        elif item == "PREVIEW":
            out.append(b"PREVIEW " + nstring(row.preview if row.preview is not None else None))
        elif item == "RFC822":
            out.append(b"RFC822 " + literal(raw))
        elif item == "RFC822.HEADER":
            assert root is not None
            out.append(b"RFC822.HEADER " + literal(raw[:root.body_start]))
        elif item == "RFC822.TEXT":
            assert root is not None
            out.append(b"RFC822.TEXT " + literal(raw[root.body_start:root.end]))
    if seen_now and not did_flags:
        # RFC 9051 §6.4.5: a \Seen set as a side effect is reported in the same response.
        out.append(("FLAGS " + flag_list(row.flags)).encode())
        did_flags = True
    if want_modseq and not did_modseq and did_flags:
        out.append(b"MODSEQ (%d)" % row.modseq)
    s.send(b"* %d FETCH (" % seq + b" ".join(out) + b")\r\n")


def _section_item(sec: Section, raw: bytes, root: Part | None, s: "Session") -> bytes:
    assert root is not None
    try:
        if sec.kind == "BODY":
            data = sections.section_bytes(raw, root, sec.spec)
        else:
            data = sections.binary_bytes(raw, root, sec.spec)
    except UnknownEncoding:
        raise No("Unknown Content-Transfer-Encoding", "UNKNOWN-CTE") from None
    if data is None:
        # RFC 9051 §6.4.5: a part that does not exist is returned empty, not an error.
        data = b""
    if sec.kind == "BINARY.SIZE":
        return f"BINARY.SIZE[{sec.spec.number}] {len(data)}".encode()
    if sec.partial is not None:
        start, length = sec.partial
        data = data[start:start + length]
    binary = sec.kind == "BINARY" and b"\x00" in data
    return sec.label.encode("utf-8", "surrogateescape") + b" " + literal(data, binary=binary)


HANDLERS = {"FETCH": fetch, "UID FETCH": fetch}
