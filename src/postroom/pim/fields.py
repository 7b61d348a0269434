"""Events and tasks as plain fields (RFC 5545 §3.6.1 VEVENT, §3.6.2 VTODO), for the doors that
show and edit them field by field (EAS, the web app) rather than serving the iCalendar text as it
is (DAV).

:func:`fields_of` reads a calendar object resource into :class:`Fields` (the master, its
EXDATEs and overridden instances as :class:`Instance`); :func:`apply` writes Fields back into the
stored text. Writing is a merge: a field left None is kept as it was, one named in ``cleared`` is
removed, and every property the fields do not cover (X- properties, further alarms, ATTACH, ...)
stays, so an item edited on a phone loses nothing that CalDAV clients put there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import icalendar

from postroom.pim.model import UTC, CalendarObject, parse_calendar

BUSY_STATES = ("FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE")
BUSY_PROPERTY = "X-MICROSOFT-CDO-BUSYSTATUS"     # what Exchange and Outlook write


@dataclass
class Person:
    email: str
    name: str = ""


@dataclass
class Attendee(Person):
    partstat: str = "NEEDS-ACTION"
    role: str = "REQ-PARTICIPANT"      # OPT-PARTICIPANT, NON-PARTICIPANT, CHAIR
    cutype: str = "INDIVIDUAL"         # RESOURCE, ROOM, GROUP


@dataclass
class Fields:
    """One event or task. Times are aware datetimes in the item's zone (``tz``) or dates (an
    all-day event, a date-only due date); None means "not known / leave as it is"."""
    uid: str | None = None
    summary: str | None = None
    start: dt.datetime | dt.date | None = None
    end: dt.datetime | dt.date | None = None          # events: DTEND
    due: dt.datetime | dt.date | None = None          # tasks: DUE
    completed: dt.datetime | None = None              # tasks: COMPLETED
    done: bool | None = None                          # tasks: STATUS:COMPLETED
    priority: int | None = None                       # 0 undefined, 1 highest .. 9 lowest
    location: str | None = None
    description: str | None = None
    organizer: Person | None = None
    attendees: list[Attendee] | None = None
    alarm: dt.timedelta | dt.datetime | None = None   # first VALARM: before start, or a time
    busy: str | None = None                           # one of BUSY_STATES
    klass: str | None = None                          # CLASS: PUBLIC, PRIVATE, CONFIDENTIAL
    status: str | None = None                         # STATUS
    categories: list[str] | None = None
    rrule: dict | None = None                         # RRULE as icalendar's vRecur
    stamp: dt.datetime | None = None
    exceptions: list["Instance"] | None = None        # master only
    timezone: icalendar.Timezone | None = None        # a VTIMEZONE no IANA name covers
    cleared: set[str] = field(default_factory=set)    # fields to remove

    @property
    def all_day(self) -> bool:
        return isinstance(self.start, dt.date) and not isinstance(self.start, dt.datetime)

    @property
    def tz(self) -> dt.tzinfo | None:
        t = self.start if self.start is not None else self.due
        return t.tzinfo if isinstance(t, dt.datetime) else None



@dataclass
class Instance:
    """One instance of a recurring item that differs from the rule: deleted (EXDATE or
    cancelled) or overridden (a RECURRENCE-ID component, ``fields`` all of its fields)."""
    recurrence_id: dt.datetime | dt.date
    deleted: bool = False
    fields: Fields | None = None


# --- reading ------------------------------------------------------------------------------------

def _text(comp, name: str) -> str | None:
    v = comp.get(name)
    return str(v) if v is not None else None


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _addr(value) -> str:
    return str(value).strip().removeprefix("mailto:").removeprefix("MAILTO:")


def _dt(comp, name: str):
    v = comp.get(name)
    return v.dt if v is not None else None


def _categories(comp) -> list[str] | None:
    values = _list(comp.get("CATEGORIES"))
    if not values:
        return None
    return [str(c) for v in values for c in getattr(v, "cats", [v])]


def _first_alarm(comp) -> dt.timedelta | dt.datetime | None:
    for sub in comp.subcomponents:
        if sub.name != "VALARM" or sub.get("TRIGGER") is None:
            continue
        trigger = sub["TRIGGER"].dt
        if isinstance(trigger, dt.timedelta):
            if str(sub["TRIGGER"].params.get("RELATED", "START")).upper() == "END":
                return None if comp.name == "VEVENT" else trigger   # rare; kept in the text
            return -trigger
        return trigger
    return None


def read(comp) -> Fields:
    """The fields of one VEVENT or VTODO component (no exceptions)."""
    org = comp.get("ORGANIZER")
    attendees = [Attendee(_addr(a), str(a.params.get("CN", "")),
                          str(a.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
                          str(a.params.get("ROLE", "REQ-PARTICIPANT")).upper(),
                          str(a.params.get("CUTYPE", "INDIVIDUAL")).upper())
                 for a in _list(comp.get("ATTENDEE"))]
    busy = str(comp.get(BUSY_PROPERTY, "")).upper() or None
    if busy not in BUSY_STATES:
        busy = "FREE" if str(comp.get("TRANSP", "")).upper() == "TRANSPARENT" else (
            "TENTATIVE" if str(comp.get("STATUS", "")).upper() == "TENTATIVE" else "BUSY")
    start, end = _dt(comp, "DTSTART"), _dt(comp, "DTEND")
    if start is not None and end is None and comp.name == "VEVENT":
        duration = _dt(comp, "DURATION")
        end = start + duration if duration is not None else (
            start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start)
    done = str(comp.get("STATUS", "")).upper() == "COMPLETED" or comp.get("COMPLETED") is not None
    rrule = comp.get("RRULE")
    return Fields(
        uid=_text(comp, "UID"), summary=_text(comp, "SUMMARY") or "", start=start, end=end,
        due=_dt(comp, "DUE"), completed=_dt(comp, "COMPLETED"), done=done,
        priority=int(comp["PRIORITY"]) if comp.get("PRIORITY") is not None else None,
        location=_text(comp, "LOCATION"),
        description=_text(comp, "DESCRIPTION"),
        organizer=Person(_addr(org), str(org.params.get("CN", ""))) if org is not None else None,
        attendees=attendees, alarm=_first_alarm(comp), busy=busy,
        klass=str(comp.get("CLASS", "PUBLIC")).upper(),
        status=str(comp.get("STATUS", "")).upper() or None, categories=_categories(comp),
        rrule=_list(rrule)[0] if rrule is not None else None, stamp=_dt(comp, "DTSTAMP"))


def fields_of(obj: CalendarObject) -> Fields:
    """The master's fields with its exceptions: EXDATEs and overridden instances."""
    master = obj.master
    f = read(master)
    exceptions: list[Instance] = []
    for exdate in _list(master.get("EXDATE")):
        exceptions.extend(Instance(d.dt, deleted=True) for d in exdate.dts)
    for comp in obj.components:
        if comp is master or comp.get("RECURRENCE-ID") is None:
            continue
        o = read(comp)
        exceptions.append(Instance(comp["RECURRENCE-ID"].dt, deleted=o.status == "CANCELLED",
                                   fields=o))
    f.exceptions = exceptions
    tzid = master.get("DTSTART").params.get("TZID") if master.get("DTSTART") else None
    f.timezone = next((tz for tz in obj.calendar.walk("VTIMEZONE")
                       if str(tz.get("TZID")) == tzid), None)
    return f


# --- writing ------------------------------------------------------------------------------------

def _set(comp, name: str, value, **params) -> None:
    comp.pop(name, None)
    if value is not None and value != "":
        comp.add(name, value, parameters=params or None)


def _write_alarm(comp, alarm: dt.timedelta | dt.datetime) -> None:
    for sub in comp.subcomponents:
        if sub.name == "VALARM":
            sub.pop("TRIGGER", None)
            break
    else:
        sub = icalendar.Alarm()
        sub.add("ACTION", "DISPLAY")
        sub.add("DESCRIPTION", "Reminder")
        comp.add_component(sub)
    if isinstance(alarm, dt.timedelta):
        sub.add("TRIGGER", -alarm)
    else:
        sub.add("TRIGGER", alarm.astimezone(UTC), parameters={"VALUE": "DATE-TIME"})


def write(comp, f: Fields) -> None:
    """Writes the fields that are set into one component and removes the cleared ones."""
    for name in f.cleared:
        if name == "alarm":
            comp.subcomponents[:] = [s for s in comp.subcomponents if s.name != "VALARM"]
        elif name in _PROPERTY:
            comp.pop(_PROPERTY[name], None)
    if f.summary is not None:
        _set(comp, "SUMMARY", f.summary)
    if f.start is not None:
        _set(comp, "DTSTART", f.start)
        if comp.name == "VEVENT":
            comp.pop("DURATION", None)
    if f.end is not None and comp.name == "VEVENT":
        _set(comp, "DTEND", f.end)
    if f.due is not None:
        _set(comp, "DUE", f.due)
    if f.done is not None and comp.name == "VTODO":
        if f.done:
            _set(comp, "STATUS", "COMPLETED")
            _set(comp, "COMPLETED", (f.completed or dt.datetime.now(UTC)).astimezone(UTC))
            _set(comp, "PERCENT-COMPLETE", 100)
        else:
            for name in ("COMPLETED", "PERCENT-COMPLETE"):
                comp.pop(name, None)
            if str(comp.get("STATUS", "")).upper() == "COMPLETED":
                _set(comp, "STATUS", "NEEDS-ACTION")
    if f.priority is not None:
        _set(comp, "PRIORITY", f.priority)
    for name, prop in (("location", "LOCATION"), ("description", "DESCRIPTION"),
                       ("klass", "CLASS")):
        if getattr(f, name) is not None:
            _set(comp, prop, getattr(f, name))
    if f.status is not None and comp.name == "VEVENT":
        _set(comp, "STATUS", f.status)
    if f.busy is not None and comp.name == "VEVENT":
        _set(comp, "TRANSP", "TRANSPARENT" if f.busy == "FREE" else "OPAQUE")
        _set(comp, BUSY_PROPERTY, f.busy)
    if f.categories is not None:
        _set(comp, "CATEGORIES", f.categories or None)
    if f.organizer is not None:
        params = {"CN": f.organizer.name} if f.organizer.name else {}
        _set(comp, "ORGANIZER", f"mailto:{f.organizer.email}", **params)
    if f.attendees is not None:
        _write_attendees(comp, f.attendees)
    if f.alarm is not None:
        _write_alarm(comp, f.alarm)
    if f.stamp is not None:
        _set(comp, "DTSTAMP", f.stamp.astimezone(UTC))


# Fields that ``cleared`` may name, and their property.
_PROPERTY = {"location": "LOCATION", "description": "DESCRIPTION", "categories": "CATEGORIES",
             "due": "DUE", "start": "DTSTART", "rrule": "RRULE", "attendees": "ATTENDEE",
             "organizer": "ORGANIZER", "klass": "CLASS"}


def _write_attendees(comp, attendees: list[Attendee]) -> None:
    old = {_addr(a).lower(): a for a in _list(comp.get("ATTENDEE"))}
    comp.pop("ATTENDEE", None)
    for a in attendees:
        prev = old.get(a.email.lower())
        params = dict(prev.params) if prev is not None else {}   # keeps RSVP, SENT-BY, ...
        params.update({"PARTSTAT": a.partstat, "ROLE": a.role, "CUTYPE": a.cutype})
        if a.name:
            params["CN"] = a.name
        comp.add("ATTENDEE", f"mailto:{a.email}", parameters=params)


def _instance_value(master_start, when: dt.datetime | dt.date):
    """A RECURRENCE-ID / EXDATE value of the master's kind (date, or time in its zone)."""
    if not isinstance(master_start, dt.datetime):
        return when.date() if isinstance(when, dt.datetime) else when
    if not isinstance(when, dt.datetime):
        when = dt.datetime.combine(when, master_start.time(), master_start.tzinfo)
    if master_start.tzinfo is None:
        return when.astimezone(UTC).replace(tzinfo=None)
    return when.astimezone(master_start.tzinfo)


def same_instance(a, b) -> bool:
    """Two RECURRENCE-ID or EXDATE values name the same instance (a floating time is taken
    at its wall clock; a date matches any time of that day)."""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        if a.tzinfo is None or b.tzinfo is None:
            return a.replace(tzinfo=None) == b.replace(tzinfo=None)
        return a == b
    return (a.date() if isinstance(a, dt.datetime) else a) == \
        (b.date() if isinstance(b, dt.datetime) else b)


def _write_exceptions(cal: icalendar.Calendar, master, exceptions: list[Instance]) -> None:
    """EXDATEs and overrides as ``exceptions`` say. An override starts as the one stored for
    that instance, or as a copy of the master: what the exception does not set is inherited,
    as an EAS Exception means it."""
    start = master["DTSTART"].dt
    master.pop("EXDATE", None)
    deleted = [_instance_value(start, e.recurrence_id) for e in exceptions if e.deleted]
    if deleted:
        master.add("EXDATE", deleted)
    overrides = [c for c in cal.subcomponents
                 if c.name == master.name and c.get("RECURRENCE-ID") is not None]
    for comp in overrides:
        cal.subcomponents.remove(comp)
    for e in exceptions:
        if e.deleted or e.fields is None:
            continue
        rid = _instance_value(start, e.recurrence_id)
        comp = next((c for c in overrides if same_instance(c["RECURRENCE-ID"].dt, rid)), None)
        if comp is None:
            comp = type(master).from_ical(master.to_ical())
            for name in ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
                comp.pop(name, None)
            comp.add("RECURRENCE-ID", rid)
        write(comp, e.fields)
        cal.add_component(comp)


def replace_instance(exceptions: list[Instance] | None, inst: Instance) -> list[Instance]:
    """``exceptions`` with ``inst`` instead of what they said of that instance before: one
    occurrence changed or cancelled alone (EAS InstanceId, a single-instance edit)."""
    return [e for e in exceptions or [] if not same_instance(e.recurrence_id,
                                                              inst.recurrence_id)] + [inst]


def new_uid() -> str:
    return str(uuid.uuid4())


def apply(f: Fields, base: CalendarObject | None, component: str = "VEVENT") -> str:
    """The iCalendar text of ``base`` (None: a new item) with ``f`` written into it."""
    if base is None:
        cal = icalendar.Calendar()
        cal.add("PRODID", "-//Postroom//EN")
        cal.add("VERSION", "2.0")
        master = icalendar.Event() if component == "VEVENT" else icalendar.Todo()
        master.add("UID", f.uid or new_uid())
        master.add("DTSTAMP", dt.datetime.now(UTC).replace(microsecond=0))
        cal.add_component(master)
    else:
        cal = icalendar.Calendar.from_ical(base.to_ical())
        master = next(c for c in cal.subcomponents
                      if c.name == base.component and c.get("RECURRENCE-ID") is None)
    write(master, f)
    if f.rrule is not None:
        _set(master, "RRULE", f.rrule)
    if "rrule" in f.cleared:
        master.pop("EXDATE", None)
        cal.subcomponents[:] = [c for c in cal.subcomponents if c.get("RECURRENCE-ID") is None]
    elif f.exceptions is not None and master.get("RRULE") is not None:
        _write_exceptions(cal, master, f.exceptions)
    if f.timezone is not None:
        tzid = str(f.timezone.get("TZID"))
        if not any(str(t.get("TZID")) == tzid for t in cal.walk("VTIMEZONE")):
            cal.subcomponents.insert(0, f.timezone)
    missing = cal.get_missing_tzids()
    if missing:
        cal.add_missing_timezones()
    used = cal.get_used_tzids()
    cal.subcomponents[:] = [c for c in cal.subcomponents
                            if c.name != "VTIMEZONE" or str(c.get("TZID")) in used]
    text = cal.to_ical().decode("utf-8")
    parse_calendar(text)      # what we write must be a valid calendar object resource
    return text
