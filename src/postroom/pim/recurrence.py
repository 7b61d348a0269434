"""Recurrence: the instances of a calendar object in a time range (RRULE, RDATE, EXDATE,
overridden instances, VTIMEZONE and IANA zones), by ``recurring-ical-events``; the time-range
test of RFC 4791 §9.9 and the expanded form of §9.6.5.
"""

from __future__ import annotations

import datetime as dt

import icalendar
import recurring_ical_events

from postroom.pim.model import UTC, CalendarObject, component_span, parse_calendar
from postroom.store.api import Item

CalendarLike = str | CalendarObject | icalendar.Calendar


def _calendar(obj: CalendarLike) -> icalendar.Calendar:
    if isinstance(obj, CalendarObject):
        return obj.calendar
    if isinstance(obj, icalendar.Calendar):
        return obj
    return parse_calendar(obj).calendar


def from_epoch(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, UTC)


def instances(obj: CalendarLike, start: dt.datetime, end: dt.datetime,
              components: tuple[str, ...] = ("VEVENT", "VTODO", "VJOURNAL")) -> list:
    """Every instance overlapping [start, end), each a component with its own DTSTART/DTEND
    and RECURRENCE-ID (for recurring ones)."""
    query = recurring_ical_events.of(_calendar(obj), components=list(components))
    out = []
    for inst in query.between(start, end):
        s, e = component_span(inst)
        if s is None or _overlaps(s, e, start, end):
            out.append(inst)
    return out


def _overlaps(s: dt.datetime, e: dt.datetime | None, start: dt.datetime | None,
              end: dt.datetime | None) -> bool:
    """RFC 4791 §9.9: (start < e and end > s), an instant event matching at its own start."""
    if e is None or e == s:
        return (start is None or start <= s) and (end is None or s < end)
    return (start is None or start < e) and (end is None or s < end)


def item_overlaps(item: Item, start: int | None, end: int | None) -> bool:
    """Whether an item (with text) has an instance in [start, end). Non-recurring items are
    decided by their index; recurring ones are expanded."""
    ix = item.index
    if ix.start is None:
        return True            # RFC 4791 §9.9: no DTSTART/DUE matches any range
    if not ix.recurring:
        s = from_epoch(ix.start)
        e = from_epoch(ix.end) if ix.end is not None else None
        return _overlaps(s, e, from_epoch(start) if start is not None else None,
                         from_epoch(end) if end is not None else None)
    lo = from_epoch(start) if start is not None else from_epoch(ix.start)
    hi = from_epoch(end) if end is not None else None
    try:
        return has_instance(item.text, lo, hi, (ix.component,))
    except Exception:
        return True            # rather show a broken rule than hide the event


def has_instance(obj: CalendarLike, start: dt.datetime, end: dt.datetime | None,
                 components: tuple[str, ...] = ("VEVENT", "VTODO", "VJOURNAL")) -> bool:
    """Whether any instance overlaps [start, end): walks instances in order from ``start`` and
    stops at the first, so a long series costs one instance, not a year of them."""
    query = recurring_ical_events.of(_calendar(obj), components=list(components))
    for inst in query.after(start):
        s, e = component_span(inst)
        if s is None:
            return True
        if end is not None and s >= end:
            return False
        if _overlaps(s, e, start, end):
            return True
    return False


def _utc_value(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC) if value.tzinfo else value
    return value


def expand(obj: CalendarLike, start: dt.datetime, end: dt.datetime) -> str:
    """RFC 4791 §9.6.5: the instances in range as separate components, each with a
    RECURRENCE-ID when the object recurs, every DATE-TIME in UTC, no RRULE/RDATE/EXDATE and no
    VTIMEZONE."""
    cal = _calendar(obj)
    master_recurs = any(c.get("RRULE") is not None or c.get("RDATE") is not None
                        for c in cal.subcomponents if c.get("RECURRENCE-ID") is None)
    out = icalendar.Calendar()
    for key, value in cal.property_items(recursive=False):
        if key not in ("BEGIN", "END"):
            out.add(key, value)
    for inst in instances(cal, start, end):
        comp = inst.__class__()
        comp.name = inst.name
        for key, value in inst.property_items(recursive=False):
            if key in ("BEGIN", "END", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
                continue
            if key in ("DTSTART", "DTEND", "DUE") and hasattr(value, "dt"):
                comp.add(key, _utc_value(value.dt))
            else:
                comp.add(key, value, encode=0)
        if master_recurs or inst.get("RECURRENCE-ID") is not None:
            rid = inst.get("RECURRENCE-ID") or inst.get("DTSTART")
            comp.add("RECURRENCE-ID", _utc_value(rid.dt))
        for sub in inst.subcomponents:
            comp.add_component(sub)
        out.add_component(comp)
    return out.to_ical().decode("utf-8")
