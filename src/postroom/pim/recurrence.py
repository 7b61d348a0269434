"""Recurrence: the instances of a calendar object in a time range (RRULE, RDATE, EXDATE,
overridden instances, VTIMEZONE and IANA zones), by ``recurring-ical-events``; the time-range
test of RFC 4791 §9.9 and the expanded form of §9.6.5.

Expanding a year of a few hundred weekly series yields tens of thousands of instances, so the
hot path avoids what costs per instance: a parsed object and its recurrence query are kept per
item text (an LRU), instances are light records rather than copied components, and the
expanded text is the source component serialized once with each instance's times put in front.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass, field

import icalendar
import recurring_ical_events
from recurring_ical_events import (
    ComponentsWithName, EventAdapter, JournalAdapter, Occurrence, TodoAdapter,
)

from postroom.pim.model import UTC, CalendarObject, component_span, parse_calendar, to_utc
from postroom.store.api import Item

CalendarLike = str | CalendarObject | icalendar.Calendar
ALL_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
# Parsed objects kept: enough for the recurring and zoned items of a few large calendars.
CACHE_SIZE = 2048
# Properties an expanded instance gets from its occurrence rather than from its source.
_INSTANCE_PROPS = ("DTSTART", "DTEND", "DUE", "DURATION", "RRULE", "RDATE", "EXDATE",
                   "RECURRENCE-ID", "SEQUENCE")
_END_PROP = {"VEVENT": "DTEND", "VTODO": "DUE"}


# --- instances as light records -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Instance:
    """One occurrence: the component it comes from (the master or an override; shared, never to
    be modified), its own start and end as recurring-ical-events gives them, and the SEQUENCE
    to report when the library sets one (-1: the source's)."""
    source: icalendar.cal.Component
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime | None
    sequence: int = -1

    def span(self) -> tuple[dt.datetime, dt.datetime | None]:
        return to_utc(self.start), (to_utc(self.end) if self.end is not None else None)


class _Occurrence(Occurrence):
    # The library's as_component copies every property of the source per instance, which was
    # most of the cost of expanding a year; a record pointing at the source is enough here.
    def as_component(self, keep_recurrence_attributes: bool) -> Instance:  # noqa: FBT001
        return Instance(self._adapter.source, self.start, self.end, self.sequence)


def _with_source(adapter: type) -> type:
    return type(adapter.__name__, (adapter,), {"source": property(lambda self: self._component)})


_SELECTIONS = {a.component_name(): ComponentsWithName(a.component_name(), _with_source(a),
                                                      occurrence=_Occurrence)
               for a in (EventAdapter, TodoAdapter, JournalAdapter)}


# --- the per-text cache -------------------------------------------------------------------------

@dataclass(slots=True)
class _Parsed:
    calendar: icalendar.Calendar
    queries: dict = field(default_factory=dict)     # components -> CalendarQuery
    header: str | None = None                       # VCALENDAR properties, serialized
    bodies: dict = field(default_factory=dict)      # id(source) -> (body, SEQUENCE line, RID line)
    master_recurs: bool = False
    # The last range asked for and its instances: a calendar-query filters on a range and
    # then expands the same range, so the second asks for what the first computed.
    last: tuple = ((), [])

    def query(self, components: tuple[str, ...]) -> recurring_ical_events.CalendarQuery:
        # Kept with the object: dateutil caches the rule's dates inside it, so the second
        # query of a series (the filter, then the expansion) does not walk the rule again.
        q = self.queries.get(components)
        if q is None:
            # skip_bad_series: one unreadable series (stored before validation was strict,
            # or imported) must not turn every query of its calendar into an error.
            q = recurring_ical_events.of(self.calendar,
                                         components=[_SELECTIONS[c] for c in components],
                                         skip_bad_series=True)
            self.queries[components] = q
        return q


_cache: OrderedDict[str, _Parsed] = OrderedDict()


def clear_cache() -> None:
    """Forgets every parsed item (benchmarks measure the cold path with it)."""
    _cache.clear()


def _parsed(obj: CalendarLike) -> _Parsed:
    """The parsed form of an item. Keyed by the text itself, so an item changed under the same
    name (a new modseq) or a second store in the same process can never see a stale parse."""
    if isinstance(obj, CalendarObject):
        return _new_parsed(obj.calendar)
    if isinstance(obj, icalendar.Calendar):
        return _new_parsed(obj)
    p = _cache.get(obj)
    if p is not None:
        _cache.move_to_end(obj)
        return p
    p = _new_parsed(parse_calendar(obj).calendar)
    _cache[obj] = p
    if len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return p


def _new_parsed(cal: icalendar.Calendar) -> _Parsed:
    return _Parsed(cal, master_recurs=any(
        c.get("RRULE") is not None or c.get("RDATE") is not None
        for c in cal.subcomponents if c.get("RECURRENCE-ID") is None))


def from_epoch(t: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, UTC)


def _overlaps(s: dt.datetime, e: dt.datetime | None, start: dt.datetime | None,
              end: dt.datetime | None) -> bool:
    """RFC 4791 §9.9: (start < e and end > s), an instant event matching at its own start."""
    if e is None or e == s:
        return (start is None or start <= s) and (end is None or s < end)
    return (start is None or start < e) and (end is None or s < end)


def _instances_in(p: _Parsed, start: dt.datetime, end: dt.datetime,
                  components: tuple[str, ...]) -> list[Instance]:
    key = (start, end, components)
    if p.last[0] == key:
        return p.last[1]
    out = []
    for inst in p.query(components).between(start, end):
        s, e = inst.span()
        if _overlaps(s, e, start, end):
            out.append(inst)
    p.last = (key, out)
    return out


def instances(obj: CalendarLike, start: dt.datetime, end: dt.datetime,
              components: tuple[str, ...] = ALL_COMPONENTS) -> list:
    """Every instance overlapping [start, end) as a full component with its own DTSTART/DTEND
    and RECURRENCE-ID (for recurring ones). For many instances, :func:`expand` and
    :func:`item_overlaps` are the cheap paths."""
    query = recurring_ical_events.of(_parsed(obj).calendar, components=list(components))
    out = []
    for inst in query.between(start, end):
        s, e = component_span(inst)
        if s is None or _overlaps(s, e, start, end):
            out.append(inst)
    return out


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
        # An item holds one kind of component; asking for all kinds shares the query (and
        # its cached instances) with expand().
        return has_instance(item.text, lo, hi)
    except Exception:
        return True            # rather show a broken rule than hide the event


def has_instance(obj: CalendarLike, start: dt.datetime, end: dt.datetime | None,
                 components: tuple[str, ...] = ALL_COMPONENTS) -> bool:
    """Whether any instance overlaps [start, end). Stops at the first found, so a long series
    costs a few instances, not a year of them."""
    p = _parsed(obj)
    if p.last[0] == (start, end, components):
        return bool(p.last[1])
    query = p.query(components)
    if end is None:
        instances_from = query.after(start)
    else:
        # Each rule walked once over the range (after() would re-walk it per window it tries).
        instances_from = (occ.as_component(False) for series in query.series
                          for occ in series.between(start, end))
    for inst in instances_from:
        s, e = inst.span()
        if _overlaps(s, e, start, end):
            return True
    return False


# --- RFC 4791 §9.9 alarms ----------------------------------------------------------------------

_OPEN_RANGE = dt.timedelta(days=366 * 20)


def _trigger_times(alarm) -> list[tuple[str, dt.timedelta | dt.datetime]]:
    """(RELATED, value) of each time a VALARM fires (RFC 5545 §3.6.6): its TRIGGER, then REPEAT
    more times DURATION apart. A value is an offset from the instance's start or end, or an
    absolute DATE-TIME."""
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return []
    first = trigger.dt
    related = str(trigger.params.get("RELATED", "START")).upper()
    repeat, duration = alarm.get("REPEAT"), alarm.get("DURATION")
    out = [(related, first)]
    if repeat is not None and duration is not None:
        try:
            step = duration.dt
            out += [(related, first + step * k) for k in range(1, min(int(repeat), 100) + 1)]
        except (TypeError, ValueError):
            pass           # a REPEAT without a usable DURATION fires once
    return out


def alarm_fires_in(obj: CalendarLike, start: dt.datetime | None, end: dt.datetime | None,
                   components: tuple[str, ...] = ALL_COMPONENTS) -> bool:
    """Whether an alarm of any instance fires in [start, end): RFC 4791 §9.9 for a time-range
    in a VALARM comp-filter (start <= trigger-time < end, each repetition counted). An offset
    trigger moves with the instance, so the instances looked at are those whose start (or end,
    RELATED=END) lies in the range shifted back by the offsets."""
    # An open end (RFC 4791 §9.9 allows either bound to be missing) is closed far enough out
    # that an endless rule is walked for a bounded time.
    lo = start or (end or dt.datetime.now(UTC)) - _OPEN_RANGE
    hi = end or lo + _OPEN_RANGE
    p = _parsed(obj)
    offsets = []
    for comp in p.calendar.subcomponents:
        if comp.name not in components:
            continue
        for alarm in comp.walk("VALARM"):
            for _, when in _trigger_times(alarm):
                if isinstance(when, dt.timedelta):
                    offsets.append(when)
                elif lo <= to_utc(when) < hi:
                    return True
    if not offsets:
        return False
    # A second either side keeps instants and RELATED=END anchors on the edge in the window.
    margin = dt.timedelta(seconds=1)
    window_lo = lo - max(offsets) - margin
    window_hi = hi - min(offsets) + margin
    for inst in p.query(components).between(window_lo, window_hi):
        s, e = inst.span()
        for alarm in inst.source.walk("VALARM"):
            for related, when in _trigger_times(alarm):
                if not isinstance(when, dt.timedelta):
                    continue
                anchor = e if related == "END" and e is not None else s
                if lo <= anchor + when < hi:
                    return True
    return False


# --- RFC 4791 §9.6.5 expansion ------------------------------------------------------------------

def _time_line(name: str, value: dt.date | dt.datetime) -> str:
    """A DATE-TIME in UTC (floating ones stay floating), or a DATE."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return f"{name}:{value.astimezone(UTC):%Y%m%dT%H%M%SZ}\r\n"
        return f"{name}:{value:%Y%m%dT%H%M%S}\r\n"
    return f"{name};VALUE=DATE:{value:%Y%m%d}\r\n"


def _header(p: _Parsed) -> str:
    if p.header is None:
        head = p.calendar.copy()           # properties only: copy() leaves subcomponents out
        text = head.to_ical().decode("utf-8")
        p.header = text[:text.rindex("END:VCALENDAR")]
    return p.header


def _body(p: _Parsed, source) -> tuple[str, str, str]:
    """The source component serialized once without its times and recurrence: (the properties
    and subcomponents, its SEQUENCE line, its RECURRENCE-ID line in UTC)."""
    got = p.bodies.get(id(source))
    if got is None:
        comp = source.copy()
        for key in _INSTANCE_PROPS:
            comp.pop(key, None)
        text = comp.to_ical().decode("utf-8")
        body = text[text.index("\r\n") + 2:text.rindex("END:")]
        body += "".join(sub.to_ical().decode("utf-8") for sub in source.subcomponents)
        seq = source.get("SEQUENCE")
        seq_line = f"SEQUENCE:{int(seq)}\r\n" if seq is not None else ""
        rid = source.get("RECURRENCE-ID")
        rid_line = _time_line("RECURRENCE-ID", rid.dt) if rid is not None else ""
        got = p.bodies[id(source)] = (body, seq_line, rid_line)
    return got


def expand(obj: CalendarLike, start: dt.datetime, end: dt.datetime) -> str:
    """RFC 4791 §9.6.5: the instances in range as separate components, each with a
    RECURRENCE-ID when the object recurs, every DATE-TIME in UTC, no RRULE/RDATE/EXDATE and no
    VTIMEZONE."""
    p = _parsed(obj)
    out = [_header(p)]
    for inst in _instances_in(p, start, end, ALL_COMPONENTS):
        src = inst.source
        body, seq_line, rid_line = _body(p, src)
        out.append(f"BEGIN:{src.name}\r\n")
        out.append(_time_line("DTSTART", inst.start))
        end_prop = _END_PROP.get(src.name)
        if end_prop is not None and inst.end is not None:
            out.append(_time_line(end_prop, inst.end))
        if rid_line:
            out.append(rid_line)
        elif p.master_recurs:
            # An instance of the master: its recurrence id is where the rule put it.
            out.append(_time_line("RECURRENCE-ID", inst.start))
        out.append(f"SEQUENCE:{inst.sequence}\r\n" if inst.sequence >= 0 else seq_line)
        out.append(body)
        out.append(f"END:{src.name}\r\n")
    out.append("END:VCALENDAR\r\n")
    return "".join(out)
