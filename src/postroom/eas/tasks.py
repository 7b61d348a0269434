"""Tasks on the wire (MS-ASTASK §2.2.2): the ApplicationData of a task to and from the
VTODO fields of :class:`postroom.pim.fields.Fields` - subject, body, start and due dates (each
in UTC and as local wall-clock time), completion, importance, sensitivity, categories,
reminder and recurrence.
"""

from __future__ import annotations

import datetime as dt

from postroom.eas import email as mail
from postroom.eas.pimfields import body, body_of, iso, recurrence, rrule_of, utc_of
from postroom.eas.protocol import parse_date
from postroom.eas.wbxml import E, Element
from postroom.pim.fields import Fields

UTC = dt.timezone.utc
SENSITIVITY = ("PUBLIC", "X-PERSONAL", "PRIVATE", "CONFIDENTIAL")


def importance(priority: int | None) -> int:
    """RFC 5545 §3.8.1.9 PRIORITY (1 highest .. 9, 0 undefined) as Importance 0 low .. 2 high."""
    if not priority or priority == 5:
        return 1
    return 2 if priority < 5 else 0


def _local(value, tz) -> str:
    """The local wall-clock form MS-ASTASK uses for StartDate/DueDate (written with a Z)."""
    if not isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT00:00:00.000Z")
    local = value.astimezone(tz) if value.tzinfo is not None else value
    return local.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _dates(prefix: str, value, tz) -> list[Element]:
    if value is None:
        return []
    return [E(f"Tasks:Utc{prefix}Date", iso(value, tz)),
            E(f"Tasks:{prefix}Date", _local(value, tz))]


def _reminder(f: Fields, tz) -> dt.datetime | None:
    if isinstance(f.alarm, dt.datetime):
        return utc_of(f.alarm, tz)
    if isinstance(f.alarm, dt.timedelta):
        anchor = f.start if f.start is not None else f.due
        return utc_of(anchor, tz) - f.alarm if anchor is not None else None
    return None


def application_data(f: Fields, opts: mail.Options, version: tuple[int, int],
                     default_tz: dt.tzinfo | None) -> list[Element | None]:
    tz = f.tz or default_tz or UTC
    remind = _reminder(f, tz)
    anchor = f.start if f.start is not None else f.due
    rec = recurrence(f.rrule, anchor, "Tasks", version, until_utc=lambda v: iso(v, tz)) \
        if f.rrule and anchor is not None else None
    if rec is not None:
        rec.children.insert(0, E("Tasks:Start", _local(anchor, tz)))
    return [
        body(f.description, opts),
        E("Tasks:Subject", f.summary or ""),
        E("Tasks:Importance", importance(f.priority)),
        *_dates("Start", f.start, tz),
        *_dates("Due", f.due, tz),
        E("Tasks:Categories", *[E("Tasks:Category", c) for c in f.categories])
        if f.categories else None,
        rec,
        E("Tasks:Complete", 1 if f.done else 0),
        E("Tasks:DateCompleted", iso(f.completed, tz)) if f.done and f.completed else None,
        E("Tasks:Sensitivity", SENSITIVITY.index(f.klass) if f.klass in SENSITIVITY else 0),
        E("Tasks:ReminderTime", iso(remind, UTC)) if remind is not None else None,
        E("Tasks:ReminderSet", 1 if remind is not None else 0),
    ]


def _date(data: Element, prefix: str, tz) -> dt.datetime | dt.date | None:
    utc = parse_date(data.findtext(f"Tasks:Utc{prefix}Date"))
    local = parse_date(data.findtext(f"Tasks:{prefix}Date"))
    if local is not None and local.time() == dt.time(0) and (
            utc is None or abs(utc - local) <= dt.timedelta(hours=14)):
        return local.date()            # a due day, not a moment: DUE;VALUE=DATE
    if utc is not None:
        return utc.astimezone(tz)
    return local.replace(tzinfo=None).replace(tzinfo=tz) if local is not None else None


def parse(data: Element, version: tuple[int, int], *, ghost: bool,
          default_tz: dt.tzinfo | None) -> Fields:
    tz = default_tz or UTC
    f = Fields(summary=data.findtext("Tasks:Subject"), description=body_of(data, "Tasks:Body"))
    imp = data.findtext("Tasks:Importance")
    if imp in ("0", "1", "2"):
        f.priority = {"0": 9, "1": 0, "2": 1}[imp]
    f.start, f.due = _date(data, "Start", tz), _date(data, "Due", tz)
    if isinstance(f.start, dt.date) != isinstance(f.due, dt.date) and f.start and f.due:
        # RFC 5545 §3.8.2.3: DUE and DTSTART are both dates or both times.
        f.start = f.start if isinstance(f.start, dt.datetime) else \
            dt.datetime.combine(f.start, dt.time(0), tz)
        f.due = f.due if isinstance(f.due, dt.datetime) else \
            dt.datetime.combine(f.due, dt.time(0), tz)
    complete = data.findtext("Tasks:Complete")
    if complete in ("0", "1"):
        f.done = complete == "1"
        f.completed = parse_date(data.findtext("Tasks:DateCompleted")) if f.done else None
    sens = data.findtext("Tasks:Sensitivity")
    if sens in ("0", "1", "2", "3"):
        f.klass = SENSITIVITY[int(sens)]
    cats = data.find("Tasks:Categories")
    if cats is not None:
        f.categories = [c.text for c in cats.findall("Tasks:Category")
                        if isinstance(c.text, str) and c.text]
    remind = parse_date(data.findtext("Tasks:ReminderTime"))
    if data.findtext("Tasks:ReminderSet") == "1" and remind is not None:
        f.alarm = remind
    elif data.findtext("Tasks:ReminderSet") == "0":
        f.cleared.add("alarm")
    rec = data.find("Tasks:Recurrence")
    if rec is not None:
        all_day = not isinstance(f.due or f.start, dt.datetime)
        f.rrule = rrule_of(rec, "Tasks", until=(lambda u: u.date()) if all_day else (lambda u: u))
    if not ghost:
        for name, tag in (("description", "AirSyncBase:Body"), ("categories", "Tasks:Categories"),
                          ("rrule", "Tasks:Recurrence"), ("alarm", "Tasks:ReminderSet"),
                          ("due", "Tasks:UtcDueDate"), ("start", "Tasks:UtcStartDate")):
            if data.find(tag) is None and getattr(f, name) is None:
                f.cleared.add(name)
    return f
