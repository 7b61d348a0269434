"""Free/busy (RFC 5545 §3.6.4, RFC 4791 §7.10, RFC 6638 §3.2.5 VFREEBUSY replies) computed from
the store: opaque, not cancelled events the user has not declined, merged into periods.
The DAV door, the web app and EAS ResolveRecipients (MS-ASCMD Availability) call
:func:`busy_periods`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import icalendar

from postroom.pim.model import UTC, component_span, parse_calendar
from postroom.pim.recurrence import instances
from postroom.store.api import (
    COLLECTION_CALENDAR, Account, Collection, Store,
)

BUSY = "BUSY"
TENTATIVE = "BUSY-TENTATIVE"
UNAVAILABLE = "BUSY-UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class BusyPeriod:
    start: dt.datetime     # UTC
    end: dt.datetime
    fbtype: str            # BUSY, BUSY-TENTATIVE, BUSY-UNAVAILABLE


def _partstat(comp, email: str) -> str:
    attendees = comp.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    for a in attendees:
        if str(a).lower().removeprefix("mailto:") == email:
            return str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return ""


def _fbtype(comp, email: str) -> str | None:
    if str(comp.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return None
    status = str(comp.get("STATUS", "")).upper()
    if status == "CANCELLED":
        return None
    partstat = _partstat(comp, email)
    if partstat == "DECLINED":
        return None
    if status == "TENTATIVE" or partstat in ("TENTATIVE", "NEEDS-ACTION"):
        return TENTATIVE
    return BUSY


async def busy_periods(store: Store, account: Account, start: dt.datetime, end: dt.datetime,
                       *, collections: Sequence[Collection] | None = None) -> list[BusyPeriod]:
    """The account's busy time in [start, end), merged per type, sorted by start."""
    if collections is None:
        collections = [c for c in await store.list_collections(account.id, COLLECTION_CALENDAR)
                       if "VEVENT" in c.components]
    s_epoch, e_epoch = int(start.timestamp()), int(end.timestamp())
    raw: list[BusyPeriod] = []
    email = account.email.lower()
    for c in collections:
        for item in await store.query_items(c.account_id, c.id, component="VEVENT",
                                            start=s_epoch, end=e_epoch, with_text=True):
            if item.index.transparent and not item.index.recurring:
                continue
            try:
                cal = parse_calendar(item.text).calendar
                for inst in instances(cal, start, end, ("VEVENT",)):
                    fbtype = _fbtype(inst, email)
                    s, e = component_span(inst)
                    if fbtype is None or s is None or e is None or e <= s:
                        continue
                    raw.append(BusyPeriod(max(s, start), min(e, end), fbtype))
            except Exception:
                continue  # one broken item must not hide everybody's free/busy
    return merge(raw)


def merge(periods: list[BusyPeriod]) -> list[BusyPeriod]:
    out: list[BusyPeriod] = []
    for fbtype in (BUSY, TENTATIVE, UNAVAILABLE):
        spans = sorted((p.start, p.end) for p in periods if p.fbtype == fbtype)
        merged: list[list[dt.datetime]] = []
        for s, e in spans:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        out += [BusyPeriod(s, e, fbtype) for s, e in merged]
    return sorted(out, key=lambda p: (p.start, p.fbtype))


def vfreebusy(periods: list[BusyPeriod], start: dt.datetime, end: dt.datetime, *,
              organizer: str = "", attendee: str = "", uid: str = "",
              method: str | None = None) -> str:
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//Postroom//Free-Busy//EN")
    if method:
        cal.add("METHOD", method)
    fb = icalendar.FreeBusy()
    fb.add("DTSTAMP", dt.datetime.now(UTC).replace(microsecond=0))
    fb.add("DTSTART", start.astimezone(UTC))
    fb.add("DTEND", end.astimezone(UTC))
    if uid:
        fb.add("UID", uid)
    if organizer:
        fb.add("ORGANIZER", f"mailto:{organizer}")
    if attendee:
        fb.add("ATTENDEE", f"mailto:{attendee}")
    for p in periods:
        prop = icalendar.vPeriod((p.start.astimezone(UTC), p.end.astimezone(UTC)))
        prop.params["FBTYPE"] = p.fbtype
        fb.add("FREEBUSY", prop, encode=0)
    cal.add_component(fb)
    return cal.to_ical().decode("utf-8")
