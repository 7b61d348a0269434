"""Invitation mail as a meeting request on the phone (MS-ASEMAIL §2.2.2.48 MeetingRequest):
an iMIP REQUEST or CANCEL (RFC 6047) in a mail folder gets the meeting's MessageClass and a
MeetingRequest element built from its VEVENT, with the GlobalObjId (MS-OXOCAL §2.2.1.27) that
carries the iCalendar UID.
"""

from __future__ import annotations

import base64
import datetime as dt
import struct

from postroom.eas import timezone
from postroom.eas.pimfields import iso, recurrence, utc_of
from postroom.eas.wbxml import E, Element
from postroom.mail.message import Part
from postroom.pim import itip
from postroom.pim.fields import BUSY_STATES, read

CLASS_REQUEST = "IPM.Schedule.Meeting.Request"
CLASS_CANCELED = "IPM.Schedule.Meeting.Canceled"
# MS-OXOCAL §2.2.1.27: the class id, then instance date, creation time, reserved, size, data.
_GOID_CLASS = bytes.fromhex("040000008200E00074C5B7101A82E008")
_VCAL_UID = b"vCal-Uid\x01\x00\x00\x00"


def global_obj_id(uid: str) -> str:
    data = _VCAL_UID + uid.encode("utf-8") + b"\x00"
    blob = _GOID_CLASS + bytes(4) + bytes(8) + bytes(8) + struct.pack("<I", len(data)) + data
    return base64.b64encode(blob).decode("ascii")


def _has_calendar(part: Part) -> bool:
    if part.content_type == "text/calendar":
        return True
    return any(_has_calendar(c) for c in part.children or [])


def meeting_request(raw: bytes, parts: Part, version: tuple[int, int]
                    ) -> tuple[str, list[Element | None]] | None:
    """(MessageClass, elements to add) when the message is an invitation, else None."""
    if not _has_calendar(parts):
        return None
    found = itip.calendar_part(raw)
    if found is None or found[0] not in ("REQUEST", "CANCEL"):
        return None
    method, cal, _ = found
    comp = next((c for c in cal.walk("VEVENT") if c.get("RECURRENCE-ID") is None), None)
    if comp is None or comp.get("DTSTART") is None:
        return None
    f = read(comp)
    tz = f.tz or dt.timezone.utc
    end = f.end if f.end is not None else f.start
    rec = recurrence(f.rrule, f.start, "Email", (12, 1), until_utc=lambda v: iso(v, tz)) \
        if f.rrule else None
    reminder = int(f.alarm.total_seconds() // 60) if isinstance(f.alarm, dt.timedelta) else None
    request = E(
        "Email:MeetingRequest",
        E("Email:AllDayEvent", 1 if f.all_day else 0),
        E("Email:StartTime", iso(f.start, tz)),
        E("Email:DTStamp", iso(f.stamp or dt.datetime.now(dt.timezone.utc), tz)),
        E("Email:EndTime", iso(end, tz)),
        E("Email:InstanceType", 1 if rec is not None else 0),
        (E("AirSyncBase:Location", E("AirSyncBase:DisplayName", f.location))
         if version >= (16, 0) else E("Email:Location", f.location)) if f.location else None,
        E("Email:Organizer", f.organizer.email) if f.organizer else None,
        E("Email:Reminder", reminder) if reminder is not None else None,
        E("Email:ResponseRequested", 1),
        E("Email:Recurrences", rec) if rec is not None else None,
        E("Email:Sensitivity", {"PRIVATE": 2, "CONFIDENTIAL": 3, "X-PERSONAL": 1}.get(
            f.klass or "", 0)),
        E("Email:BusyStatus", BUSY_STATES.index(f.busy) if f.busy in BUSY_STATES else 2),
        E("Email:TimeZone", timezone.of_tzinfo(tz, utc_of(f.start, tz).year)),
        E("Email:GlobalObjId", global_obj_id(f.uid or "")),
        E("Email:DisallowNewTimeProposal", 1) if version >= (14, 0) else None)
    extra = [request]
    if version >= (14, 1):
        extra.append(E("Email2:MeetingMessageType", 1 if method == "REQUEST" else 0))
    return (CLASS_REQUEST if method == "REQUEST" else CLASS_CANCELED), extra
