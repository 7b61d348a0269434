"""Import and export of calendars (one .ics with many events, RFC 5545) and address books (one
.vcf with many cards, RFC 6350) for ``postroom calendar|contacts import|export``.

An import splits the file into calendar object resources (one per UID, with the time zones it
uses) or single vCards, validates each with pim.model, and stores it, replacing an item of the
same UID. Invalid entries are reported and skipped, never stored.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import icalendar

from postroom.pim.model import (InvalidData, index_calendar, index_vcard, parse_calendar,
                                parse_vcard)
from postroom.store.api import (
    COLLECTION_ADDRESSBOOK, COLLECTION_CALENDAR, Account, Collection, Store, StoreError,
)

Progress = Callable[[int, int], None]


class TransferError(Exception):
    pass


@dataclass
class PimReport:
    imported: int = 0
    replaced: int = 0
    exported: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (uid or position, reason)
    seconds: float = 0.0


def _resource_name(uid: str, ext: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in uid)[:200]
    return f"{safe or uuid.uuid4()}.{ext}"


def split_calendar(text: str) -> list[str]:
    """One VCALENDAR text per UID, each with the VTIMEZONEs of the file."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as e:
        raise TransferError(f"not an iCalendar file: {e}") from None
    timezones = [c for c in cal.subcomponents if c.name == "VTIMEZONE"]
    by_uid: dict[str, list] = {}
    for c in cal.subcomponents:
        if c.name in ("VEVENT", "VTODO", "VJOURNAL"):
            by_uid.setdefault(str(c.get("UID") or uuid.uuid4()), []).append(c)
    out = []
    for uid, comps in by_uid.items():
        one = icalendar.Calendar()
        one.add("VERSION", "2.0")
        one.add("PRODID", str(cal.get("PRODID", "-//Postroom//import//EN")))
        for tz in timezones:
            one.add_component(tz)
        for c in comps:
            if c.get("UID") is None:
                c.add("UID", uid)
            one.add_component(c)
        out.append(one.to_ical().decode("utf-8"))
    return out


def split_vcards(text: str) -> list[str]:
    cards, current = [], []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.upper().startswith("BEGIN:VCARD"):
            current = [line]
        elif current:
            current.append(line)
            if line.upper().startswith("END:VCARD"):
                cards.append("\r\n".join(current) + "\r\n")
                current = []
    return cards


async def _target(store: Store, account: Account, kind: str, name: str | None) -> Collection:
    if name:
        c = await store.get_collection(account.id, name)
        if c is None:
            c = await store.create_collection(account.id, kind, name, display_name=name)
        elif c.kind != kind:
            raise TransferError(f"{name} is not a{'n address book' if kind != 'calendar' else ' calendar'}")
        return c
    c = await store.get_collection_by_role(account.id,
                                           "calendar" if kind == COLLECTION_CALENDAR else "contacts")
    if c is None:
        raise TransferError("the account has no default collection")
    return c


async def import_file(store: Store, account: Account, path: Path, kind: str,
                      collection: str | None = None, progress: Progress | None = None
                      ) -> PimReport:
    t0 = time.monotonic()
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TransferError(f"cannot read {path}: {e}") from None
    parts = split_vcards(text) if kind == COLLECTION_ADDRESSBOOK else split_calendar(text)
    target = await _target(store, account, kind, collection)
    report = PimReport()
    tasks_list = None
    for n, part in enumerate(parts, 1):
        try:
            if kind == COLLECTION_ADDRESSBOOK:
                index = index_vcard(parse_vcard(part))
                ext = "vcf"
            else:
                index = index_calendar(parse_calendar(part))
                ext = "ics"
            dest = target
            if kind == COLLECTION_CALENDAR and index.component not in target.components:
                # Tasks into the task list when the calendar holds events only (and so on).
                if tasks_list is None:
                    tasks_list = [c for c in await store.list_collections(account.id, kind)
                                  if index.component in c.components]
                if not tasks_list:
                    raise InvalidData(f"no collection takes {index.component}")
                dest = tasks_list[0]
            existing = [i for i in await store.find_items_by_uid(account.id, index.uid, kind)
                        if i.collection_id == dest.id]
            if existing:
                await store.put_item(account.id, dest.id, existing[0].name, part, index,
                                     if_match=existing[0].modseq)
                report.replaced += 1
            else:
                await store.put_item(account.id, dest.id, _resource_name(index.uid, ext), part,
                                     index)
            report.imported += 1
        except (InvalidData, StoreError) as e:
            report.skipped.append((f"entry {n}", str(e)))
        if progress:
            progress(n, len(parts))
    report.seconds = time.monotonic() - t0
    return report


async def export_text(store: Store, account: Account, kind: str, collection: str | None = None,
                      progress: Progress | None = None) -> tuple[str, PimReport]:
    """All items of one collection (or of every collection of ``kind``) as one file's text."""
    t0 = time.monotonic()
    if collection:
        c = await store.get_collection(account.id, collection)
        if c is None or (c.kind == COLLECTION_ADDRESSBOOK) != (kind == COLLECTION_ADDRESSBOOK):
            raise TransferError(f"no such {kind}: {collection}")
        collections = [c]
    else:
        collections = await store.list_collections(account.id, kind)
    report = PimReport()
    items = []
    for c in collections:
        items += await store.list_items(account.id, c.id, with_text=True)
    if kind == COLLECTION_ADDRESSBOOK:
        out = []
        for n, it in enumerate(items, 1):
            out.append(it.text if it.text.endswith("\n") else it.text + "\r\n")
            if progress:
                progress(n, len(items))
        report.exported = len(items)
        report.seconds = time.monotonic() - t0
        return "".join(out), report
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//Postroom//export//EN")
    seen_tz: set[str] = set()
    for n, it in enumerate(items, 1):
        one = icalendar.Calendar.from_ical(it.text)
        for c in one.subcomponents:
            if c.name == "VTIMEZONE":
                if str(c.get("TZID")) in seen_tz:
                    continue
                seen_tz.add(str(c.get("TZID")))
            cal.add_component(c)
        if progress:
            progress(n, len(items))
    report.exported = len(items)
    report.seconds = time.monotonic() - t0
    return cal.to_ical().decode("utf-8"), report
