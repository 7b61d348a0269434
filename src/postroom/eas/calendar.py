"""Calendar items on the wire (MS-ASCAL §2.2.2): the ApplicationData of an event, built from
and read into :class:`postroom.pim.fields.Fields`, so a stored iCalendar event and a phone's
appointment say the same: time zone (MS-ASDTYPE §2.7), all-day, recurrence and exceptions,
organizer and attendees with their status, reminder, location, body, busy status, sensitivity,
meeting status, categories and UID.
"""

from __future__ import annotations

import datetime as dt

from postroom.eas import email as mail
from postroom.eas import timezone
from postroom.eas.pimfields import body, body_of, compact, recurrence, rrule_of, utc_of
from postroom.eas.protocol import compact_date, eas_date, parse_date
from postroom.eas.wbxml import E, Element
from postroom.pim.fields import BUSY_STATES, Attendee, Fields, Instance, Person, same_instance

UTC = dt.timezone.utc

SENSITIVITY = ("PUBLIC", "X-PERSONAL", "PRIVATE", "CONFIDENTIAL")     # MS-ASCAL §2.2.2.41
# AttendeeStatus / ResponseType (MS-ASCAL §2.2.2.5, §2.2.2.40)
STATUS_OF_PARTSTAT = {"TENTATIVE": 2, "ACCEPTED": 3, "DECLINED": 4, "NEEDS-ACTION": 5}
PARTSTAT_OF_STATUS = {0: "NEEDS-ACTION", 2: "TENTATIVE", 3: "ACCEPTED", 4: "DECLINED",
                      5: "NEEDS-ACTION"}
# MeetingStatus (MS-ASCAL §2.2.2.30)
APPOINTMENT, MEETING, MEETING_RECEIVED, CANCELLED, CANCELLED_RECEIVED = 0, 1, 3, 5, 7


def _attendee_type(a: Attendee) -> int:
    if a.cutype in ("RESOURCE", "ROOM"):
        return 3
    return 2 if a.role in ("OPT-PARTICIPANT", "NON-PARTICIPANT") else 1


def meeting_status(f: Fields, own: set[str]) -> int:
    if not f.attendees:
        return APPOINTMENT
    organizer = f.organizer is None or f.organizer.email.lower() in own
    if f.status == "CANCELLED":
        return CANCELLED if organizer else CANCELLED_RECEIVED
    return MEETING if organizer else MEETING_RECEIVED


def response_type(f: Fields, own: set[str]) -> int | None:
    if not f.attendees:
        return None
    if f.organizer is None or f.organizer.email.lower() in own:
        return 1
    me = next((a for a in f.attendees if a.email.lower() in own), None)
    return STATUS_OF_PARTSTAT.get(me.partstat, 5) if me is not None else 0


def _attendees(f: Fields, version: tuple[int, int]) -> Element | None:
    if not f.attendees:
        return None
    return E("Calendar:Attendees", *[
        E("Calendar:Attendee", E("Calendar:Email", a.email), E("Calendar:Name", a.name or a.email),
          E("Calendar:AttendeeStatus", STATUS_OF_PARTSTAT.get(a.partstat, 0)),
          E("Calendar:AttendeeType", _attendee_type(a))) for a in f.attendees])


def _location(text: str | None, version: tuple[int, int]) -> Element | None:
    if not text:
        return None
    if version >= (16, 0):   # MS-ASCAL §2.2.2.27: 16.x carries AirSyncBase:Location
        return E("AirSyncBase:Location", E("AirSyncBase:DisplayName", text))
    return E("Calendar:Location", text)


def _reminder(f: Fields) -> int | None:
    if isinstance(f.alarm, dt.timedelta):
        return max(0, int(f.alarm.total_seconds() // 60))
    return None


def _until(tz):
    return lambda v: compact(v, tz)


def _exception(inst: Instance, master: Fields, tz, opts: mail.Options,
               version: tuple[int, int], own: set[str]) -> Element:
    rid = utc_of(inst.recurrence_id if isinstance(inst.recurrence_id, dt.datetime)
                 or not isinstance(master.start, dt.datetime)
                 else dt.datetime.combine(inst.recurrence_id, master.start.timetz()), tz)
    head = [E("Calendar:Deleted", 1) if inst.deleted else None,
            E("AirSyncBase:InstanceId", eas_date(rid.timestamp())) if version >= (16, 0)
            else E("Calendar:ExceptionStartTime", compact_date(rid.timestamp()))]
    f = inst.fields
    if inst.deleted or f is None:
        return E("Calendar:Exception", *head)

    def changed(name: str):
        value = getattr(f, name)
        return value if value is not None and value != getattr(master, name) else None
    return E("Calendar:Exception", *head,
             E("Calendar:Subject", changed("summary")) if changed("summary") else None,
             E("Calendar:StartTime", compact(f.start, tz)) if f.start is not None else None,
             E("Calendar:EndTime", compact(f.end, tz)) if f.end is not None else None,
             body(changed("description"), opts),
             _location(changed("location"), version),
             E("Calendar:Categories", *[E("Calendar:Category", c) for c in f.categories])
             if changed("categories") else None,
             E("Calendar:Sensitivity", _sensitivity(f)) if changed("klass") else None,
             E("Calendar:BusyStatus", BUSY_STATES.index(f.busy)) if changed("busy") else None,
             E("Calendar:AllDayEvent", 1 if f.all_day else 0)
             if f.all_day != master.all_day else None,
             E("Calendar:Reminder", _reminder(f)) if changed("alarm") and _reminder(f) is not None
             else None,
             E("Calendar:MeetingStatus", meeting_status(f, own)) if changed("status") else None,
             _attendees(f, version) if changed("attendees") else None,
             E("Calendar:ResponseType", response_type(f, own))
             if version >= (14, 0) and changed("attendees") and response_type(f, own) else None)


def _sensitivity(f: Fields) -> int:
    return SENSITIVITY.index(f.klass) if f.klass in SENSITIVITY else 2


def application_data(f: Fields, opts: mail.Options, version: tuple[int, int], own: set[str],
                     default_tz: dt.tzinfo | None) -> list[Element | None]:
    """The Calendar elements of an event (in the order Exchange sends them)."""
    tz = f.tz or default_tz or UTC
    start = f.start or dt.datetime.now(UTC)
    end = f.end if f.end is not None else start
    zone = timezone.of_tzinfo(tz, start.year)
    rtype = response_type(f, own) if version >= (14, 0) else None
    return [
        E("Calendar:TimeZone", zone),
        E("Calendar:DtStamp", compact(f.stamp or dt.datetime.now(UTC), UTC)),
        E("Calendar:StartTime", compact(start, tz)),
        E("Calendar:Subject", f.summary or ""),
        E("Calendar:UID", f.uid or ""),
        E("Calendar:OrganizerName", f.organizer.name or f.organizer.email)
        if f.organizer else None,
        E("Calendar:OrganizerEmail", f.organizer.email) if f.organizer else None,
        _attendees(f, version),
        _location(f.location, version),
        E("Calendar:EndTime", compact(end, tz)),
        recurrence(f.rrule, start, "Calendar", version, until_utc=_until(tz))
        if f.rrule else None,
        body(f.description, opts),
        E("Calendar:Sensitivity", _sensitivity(f)),
        E("Calendar:BusyStatus", BUSY_STATES.index(f.busy) if f.busy in BUSY_STATES else 2),
        E("Calendar:AllDayEvent", 1 if f.all_day else 0),
        E("Calendar:Reminder", _reminder(f)) if _reminder(f) is not None else None,
        E("Calendar:Exceptions", *[_exception(i, f, tz, opts, version, own)
                                   for i in f.exceptions]) if f.rrule and f.exceptions else None,
        E("Calendar:MeetingStatus", meeting_status(f, own)),
        E("Calendar:Categories", *[E("Calendar:Category", c) for c in f.categories])
        if f.categories else None,
        E("Calendar:ResponseRequested", 1) if rtype and rtype != 1 else None,
        E("Calendar:ResponseType", rtype) if rtype else None,
    ]


# --- what a device sends ------------------------------------------------------------------------

def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "") else None
    except ValueError:
        return None


def _times(data: Element, tz, all_day: bool, default_start=None):
    start = parse_date(data.findtext("Calendar:StartTime")) or default_start
    end = parse_date(data.findtext("Calendar:EndTime"))
    if start is None:
        return None, None
    start = start.astimezone(tz)
    end = end.astimezone(tz) if end is not None else None
    if all_day:
        first = start.date()
        last = end.date() if end is not None else first
        return first, (last if last > first else first + dt.timedelta(days=1))
    return start, end if end is not None and end >= start else start


def _common(data: Element, f: Fields, version: tuple[int, int], ghost: bool) -> None:
    """Subject, location, body, categories, busy status, sensitivity, reminder, meeting
    status and attendees: what an appointment and one of its exceptions share."""
    f.summary = data.findtext("Calendar:Subject")
    location = data.findtext("AirSyncBase:Location/AirSyncBase:DisplayName")
    f.location = location if location is not None else data.findtext("Calendar:Location")
    f.description = body_of(data, "Calendar:Body")
    cats = data.find("Calendar:Categories")
    if cats is not None:
        f.categories = [c.text for c in cats.findall("Calendar:Category")
                        if isinstance(c.text, str) and c.text]
    busy = _int(data.findtext("Calendar:BusyStatus"))
    if busy is not None and 0 <= busy < len(BUSY_STATES):
        f.busy = BUSY_STATES[busy]
    sens = _int(data.findtext("Calendar:Sensitivity"))
    if sens is not None and 0 <= sens < len(SENSITIVITY):
        f.klass = SENSITIVITY[sens]
    reminder = _int(data.findtext("Calendar:Reminder"))
    if reminder is not None:
        f.alarm = dt.timedelta(minutes=reminder)
    status = _int(data.findtext("Calendar:MeetingStatus"))
    if status is not None:
        f.status = "CANCELLED" if status in (CANCELLED, CANCELLED_RECEIVED, 4) else None
    attendees = data.find("Calendar:Attendees")
    if attendees is not None:
        f.attendees = []
        for a in attendees.findall("Calendar:Attendee"):
            email = (a.findtext("Calendar:Email") or "").strip()
            if not email:
                continue
            kind = _int(a.findtext("Calendar:AttendeeType")) or 1
            f.attendees.append(Attendee(
                email, a.findtext("Calendar:Name") or "",
                PARTSTAT_OF_STATUS.get(_int(a.findtext("Calendar:AttendeeStatus")) or 0,
                                       "NEEDS-ACTION"),
                "OPT-PARTICIPANT" if kind == 2 else (
                    "NON-PARTICIPANT" if kind == 3 else "REQ-PARTICIPANT"),
                "RESOURCE" if kind == 3 else "INDIVIDUAL"))
    if not ghost:
        # Before 16.0 a Change carries the whole item: what is missing was removed.
        for name, tags in (("location", ("Calendar:Location", "AirSyncBase:Location")),
                           ("description", ("AirSyncBase:Body", "Calendar:Body")),
                           ("categories", ("Calendar:Categories",)),
                           ("alarm", ("Calendar:Reminder",))):
            if all(data.find(t) is None for t in tags):
                f.cleared.add(name)


def parse(data: Element, version: tuple[int, int], *, ghost: bool,
          default_tz: dt.tzinfo | None) -> Fields:
    """A device's appointment as Fields. ``ghost``: absent elements mean "unchanged" (16.x and
    every Add), else "removed"."""
    start = parse_date(data.findtext("Calendar:StartTime"))
    if start is None and data.find("Calendar:StartTime") is not None:
        raise ValueError("StartTime is not a date")
    year = (start or dt.datetime.now(UTC)).year
    zone = data.findtext("Calendar:TimeZone")
    tz, vtz = timezone.to_tzinfo(zone, year) if zone else (default_tz or UTC, None)
    all_day = data.findtext("Calendar:AllDayEvent") == "1"
    f = Fields(timezone=vtz)
    f.uid = data.findtext("Calendar:UID") or data.findtext("Calendar:ClientUid")
    f.start, f.end = _times(data, tz, all_day)
    stamp = parse_date(data.findtext("Calendar:DtStamp"))
    f.stamp = stamp
    _common(data, f, version, ghost)
    org = data.findtext("Calendar:OrganizerEmail")
    if org:
        f.organizer = Person(org, data.findtext("Calendar:OrganizerName") or "")
    rec = data.find("Calendar:Recurrence")
    if rec is not None:
        f.rrule = rrule_of(rec, "Calendar", until=(lambda u: u.astimezone(tz).date())
                           if all_day else (lambda u: u))
    elif not ghost:
        f.cleared.add("rrule")
    exceptions = data.find("Calendar:Exceptions")
    if exceptions is not None and f.start is not None:
        duration = (f.end - f.start) if f.end is not None else dt.timedelta(0)
        f.exceptions = [parse_exception(e, tz, duration, version)
                        for e in exceptions.findall("Calendar:Exception")]
        f.exceptions = [e for e in f.exceptions if e is not None]
    return f


def parse_exception(el: Element, tz, duration: dt.timedelta,
                     version: tuple[int, int]) -> Instance | None:
    """One Exception of a series (MS-ASCAL §2.2.2.19); None when it names no instance."""
    rid = parse_date(el.findtext("Calendar:ExceptionStartTime")
                     or el.findtext("AirSyncBase:InstanceId"))
    if rid is None:
        return None
    rid = rid.astimezone(tz)
    if el.findtext("Calendar:Deleted") == "1":
        return Instance(rid, deleted=True)
    all_day_text = el.findtext("Calendar:AllDayEvent")
    all_day = all_day_text == "1" if all_day_text is not None else \
        duration.days >= 1 and duration.seconds == 0 and rid.hour == 0 and rid.minute == 0
    f = Fields()
    f.start, f.end = _times(el, tz, all_day, default_start=rid)
    if el.findtext("Calendar:EndTime") is None and f.start is not None:
        f.end = f.start + duration
    _common(el, f, version, ghost=True)
    return Instance(rid, fields=f)


def instance_change(data: Element | None, instance_id: str, deleted: bool, master: Fields,
                    version: tuple[int, int], default_tz: dt.tzinfo | None) -> Instance:
    """A 16.x Change or Delete aimed at one instance of a series through a top-level
    InstanceId (MS-ASCMD §2.2.3.88.2) as the exception it makes: what the device did not
    send is the instance's as it was (ghosting)."""
    if master.rrule is None or master.start is None:
        raise ValueError("an InstanceId names an instance of a recurring series only")
    duration = master.end - master.start if master.end is not None else dt.timedelta(0)
    el = E("Calendar:Exception", E("AirSyncBase:InstanceId", instance_id),
           E("Calendar:Deleted", 1) if deleted else None,
           *(data.children if data is not None else []))
    inst = parse_exception(el, master.tz or default_tz or UTC, duration, version)
    if inst is None:
        raise ValueError("InstanceId is not a date")
    overridden = any(e.fields is not None and same_instance(e.recurrence_id, inst.recurrence_id)
                     for e in master.exceptions or [])
    if overridden and inst.fields is not None:
        # An instance already moved keeps its times unless the device sent new ones.
        if el.find("Calendar:StartTime") is None:
            inst.fields.start = None
        if el.find("Calendar:EndTime") is None:
            inst.fields.end = None
    return inst
