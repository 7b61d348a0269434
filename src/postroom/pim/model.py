"""The one iCalendar (RFC 5545) and vCard (RFC 6350, and 3.0 of RFC 2426) model every door uses:
validation of a calendar object resource (RFC 4791 §4.1) or a vCard (RFC 6352 §5.1), and the
index fields the store keeps next to the text (store.api.ItemIndex).

Parsing is the ``icalendar`` library's; vCard content lines are split by its content-line parser.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import icalendar
import recurring_ical_events
from icalendar.parser import Contentline, Contentlines

from postroom.store.api import ItemIndex

UTC = dt.timezone.utc
CALENDAR_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
# Endless recurrences are indexed with no end; bounded ones are expanded to find their last
# instance, up to this many instances (beyond it they are indexed as endless).
MAX_INDEXED_INSTANCES = 5000


class InvalidData(ValueError):
    """Not a valid calendar object resource / vCard. ``condition`` names the RFC 4791/6352
    precondition a DAV door reports (e.g. "valid-calendar-data")."""

    def __init__(self, message: str, condition: str = "valid-calendar-data") -> None:
        super().__init__(message)
        self.condition = condition


# --- time helpers -------------------------------------------------------------------------------

def to_utc(value) -> dt.datetime:
    """A DATE or DATE-TIME value as an aware UTC datetime; floating and dates taken as UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise InvalidData(f"not a date: {value!r}")


def to_epoch(value) -> int:
    return int(to_utc(value).timestamp())


def component_span(comp) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end) of one VEVENT/VTODO/VJOURNAL instance per RFC 4791 §9.9."""
    start = comp.get("DTSTART")
    start_v = start.dt if start is not None else None
    if comp.name == "VEVENT" or comp.name == "VJOURNAL":
        if start_v is None:
            return None, None
        s = to_utc(start_v)
        if comp.get("DTEND") is not None:
            return s, to_utc(comp["DTEND"].dt)
        if comp.get("DURATION") is not None:
            return s, s + comp["DURATION"].dt
        if not isinstance(start_v, dt.datetime):
            return s, s + dt.timedelta(days=1)
        return s, s
    if comp.name == "VTODO":
        due = comp.get("DUE")
        due_v = to_utc(due.dt) if due is not None else None
        s = to_utc(start_v) if start_v is not None else None
        if s is not None and comp.get("DURATION") is not None:
            return s, s + comp["DURATION"].dt
        if s is not None and due_v is not None:
            return s, due_v
        if s is not None:
            return s, s
        if due_v is not None:
            return due_v, due_v
        completed = comp.get("COMPLETED")
        created = comp.get("CREATED")
        if completed is not None:
            c = to_utc(completed.dt)
            return (to_utc(created.dt) if created is not None else c), c
        return None, None
    return None, None


def _address(value) -> str:
    s = str(value).strip()
    if s.lower().startswith("mailto:"):
        s = s[7:]
    return s.lower()


# --- iCalendar ----------------------------------------------------------------------------------

@dataclass
class CalendarObject:
    """A parsed calendar object resource: one UID, its master and overridden instances."""
    calendar: icalendar.Calendar
    uid: str
    component: str                   # VEVENT, VTODO or VJOURNAL
    components: list                 # the master first (when present), then overrides

    @property
    def master(self):
        for c in self.components:
            if c.get("RECURRENCE-ID") is None:
                return c
        return self.components[0]

    def to_ical(self) -> str:
        return self.calendar.to_ical().decode("utf-8")


def parse_calendar(text: str | bytes, *, allow_methods: bool = False) -> CalendarObject:
    """Validates a calendar object resource (RFC 4791 §4.1): one VCALENDAR, one kind of
    component, one UID. METHOD is refused unless ``allow_methods`` (iTIP messages carry one)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidData("calendar data is not UTF-8", "supported-calendar-data") from None
    if "BEGIN:VCALENDAR" not in text.upper():
        raise InvalidData("not an iCalendar object", "supported-calendar-data")
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as e:  # the library raises ValueError and friends
        raise InvalidData(f"unparsable iCalendar: {e}") from None
    if not isinstance(cal, icalendar.Calendar) or cal.name != "VCALENDAR":
        raise InvalidData("not a VCALENDAR")
    # icalendar keeps a property it could not read as "broken" and raises only when it is used
    # (an RRULE FREQ=0WEEKLY, say): refuse such data here, before anything indexes or expands it.
    for comp in cal.walk():
        if getattr(comp, "errors", None):
            name, why = comp.errors[0]
            raise InvalidData(f"invalid {name} in {comp.name}: {why}",
                              "valid-calendar-data")
    if cal.get("METHOD") is not None and not allow_methods:
        raise InvalidData("METHOD is not allowed in a stored calendar object",
                          "valid-calendar-object-resource")
    comps = [c for c in cal.subcomponents if c.name in CALENDAR_COMPONENTS]
    if not comps:
        raise InvalidData("no VEVENT, VTODO or VJOURNAL", "valid-calendar-object-resource")
    kinds = {c.name for c in comps}
    if len(kinds) != 1:
        raise InvalidData("mixed component types", "valid-calendar-object-resource")
    uids = {str(c.get("UID", "")) for c in comps}
    if len(uids) != 1 or "" in uids:
        raise InvalidData("every component needs the same UID", "valid-calendar-object-resource")
    masters = [c for c in comps if c.get("RECURRENCE-ID") is None]
    if len(masters) > 1:
        raise InvalidData("more than one master component", "valid-calendar-object-resource")
    try:
        for c in comps:
            component_span(c)
    except (InvalidData, TypeError, AttributeError, KeyError, ValueError) as e:
        raise InvalidData(f"bad date: {e}") from None
    if any(c.get("RRULE") is not None or c.get("RDATE") is not None for c in comps):
        # The recurrence must be one our expansion can walk (dateutil refuses an RRULE
        # without FREQ that icalendar lets through, for example).
        try:
            recurring_ical_events.of(cal, components=list({c.name for c in comps}))
        except Exception as e:
            raise InvalidData(f"unusable recurrence: {e}", "valid-calendar-data") from None
    comps.sort(key=lambda c: c.get("RECURRENCE-ID") is not None)
    return CalendarObject(cal, uids.pop(), kinds.pop(), comps)


def index_calendar(obj: CalendarObject) -> ItemIndex:
    master = obj.master
    spans = [component_span(c) for c in obj.components]
    starts = [s for s, _ in spans if s is not None]
    ends = [e for _, e in spans if e is not None]
    start = min(starts) if starts else None
    end = max(ends) if ends else None
    recurring = master.get("RRULE") is not None or master.get("RDATE") is not None
    if recurring and start is not None:
        end = _last_instance_end(obj.calendar, master, end)
    attendees = master.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    due = master.get("DUE")
    completed = master.get("COMPLETED")
    return ItemIndex(
        uid=obj.uid, component=obj.component,
        start=int(start.timestamp()) if start is not None else None,
        end=int(end.timestamp()) if end is not None else None,
        recurring=recurring, summary=str(master.get("SUMMARY", "")),
        organizer=_address(master["ORGANIZER"]) if master.get("ORGANIZER") else "",
        attendees=tuple(_address(a) for a in attendees),
        status=str(master.get("STATUS", "")).upper(),
        transparent=str(master.get("TRANSP", "")).upper() == "TRANSPARENT",
        due=to_epoch(due.dt) if due is not None else None,
        completed=to_epoch(completed.dt) if completed is not None else None)


def _last_instance_end(cal, master, end_so_far):
    rrule = master.get("RRULE")
    rrules = rrule if isinstance(rrule, list) else ([rrule] if rrule is not None else [])
    if any(r.get("COUNT") is None and r.get("UNTIL") is None for r in rrules):
        return None                                  # endless
    last = end_so_far
    try:
        for i, inst in enumerate(recurring_ical_events.of(cal).all()):
            if i >= MAX_INDEXED_INSTANCES:
                return None
            _, e = component_span(inst)
            if e is not None and (last is None or e > last):
                last = e
    except Exception:
        return None                                  # index as endless: always a candidate
    return last


# --- vCard --------------------------------------------------------------------------------------

@dataclass
class Card:
    uid: str
    version: str
    lines: list[tuple[str, dict, str]]     # (NAME, params, value), unfolded, BEGIN/END dropped
    text: str

    def values(self, name: str) -> list[str]:
        return [v for n, _, v in self.lines if n == name]

    def first(self, name: str, default: str = "") -> str:
        vs = self.values(name)
        return vs[0] if vs else default


def parse_vcard(text: str | bytes, *, default_uid: str = "") -> Card:
    """Validates one vCard (RFC 6352 §5.1: one VCARD per resource; VERSION and FN)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidData("vCard data is not UTF-8", "supported-address-data") from None
    try:
        lines = [ln for ln in Contentlines.from_ical(text) if ln]
        parts = [Contentline(ln).parts() for ln in lines]
    except Exception as e:
        raise InvalidData(f"unparsable vCard: {e}", "valid-address-data") from None
    parsed = [(name.upper(), dict(params), str(value)) for name, params, value in parts]
    if not parsed or parsed[0][0] != "BEGIN" or parsed[0][2].upper() != "VCARD" \
            or parsed[-1][0] != "END" or parsed[-1][2].upper() != "VCARD":
        raise InvalidData("not a single VCARD", "valid-address-data")
    if sum(1 for n, _, v in parsed if n == "BEGIN") != 1:
        raise InvalidData("more than one VCARD", "valid-address-data")
    body = parsed[1:-1]
    card = Card("", "", body, text)
    version = card.first("VERSION")
    if version not in ("3.0", "4.0"):
        raise InvalidData(f"unsupported vCard version {version!r}", "supported-address-data")
    if not card.first("FN") and not card.first("N"):
        raise InvalidData("vCard without FN", "valid-address-data")
    card.version = version
    card.uid = card.first("UID") or default_uid
    if not card.uid:
        raise InvalidData("vCard without UID", "valid-address-data")
    return card


def index_vcard(card: Card) -> ItemIndex:
    fn = card.first("FN")
    if not fn:
        fn = " ".join(p for p in reversed(card.first("N").split(";")[:2]) if p)
    return ItemIndex(
        uid=card.uid, component="VCARD", summary=fn,
        emails=tuple(_address(e) for e in card.values("EMAIL") if e),
        phones=tuple(p.strip() for p in card.values("TEL") if p.strip()))


def resource_name(uid: str, ext: str) -> str:
    """A safe item name for a new item with this UID ("<uid>.ics", "<uid>.vcf")."""
    import uuid
    safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in uid)[:200]
    return f"{safe or uuid.uuid4()}.{ext}"


def index_text(text: str, component_kind: str, *, default_uid: str = "") -> ItemIndex:
    """Parses and indexes the canonical text of an item of a calendar or an address book."""
    if component_kind == "addressbook":
        return index_vcard(parse_vcard(text, default_uid=default_uid))
    return index_calendar(parse_calendar(text))
