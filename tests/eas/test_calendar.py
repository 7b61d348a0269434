"""Calendar over ActiveSync (MS-ASCAL) against the iCalendar items that CalDAV serves: time zones,
all-day events, recurrence and exceptions, attendees and the invitations a device's meeting
sends; in 16.1, 14.1 and 12.1."""

from __future__ import annotations

import base64
import zoneinfo

import icalendar
import pytest

from postroom.eas import timezone
from postroom.eas.wbxml import E, encode
from postroom.pim.model import index_text
from postroom.pim.tzrules import rules_of

from ..dav.client import request
from .client import collection
from .wbxml_tool import libwbxml_tree, needs_libwbxml, our_tree

ALICE, BOB = "alice@example.test", "bob@example.test"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260302T100000\r
DTEND;TZID=Europe/Berlin:20260302T110000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20260601T000000Z\r
EXDATE;TZID=Europe/Berlin:20260304T100000\r
SUMMARY:Standup\r
LOCATION:Room 1\r
DESCRIPTION:Daily sync\r
X-KEEP-ME:yes\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-PT15M\r
DESCRIPTION:x\r
END:VALARM\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260309T100000\r
DTSTART;TZID=Europe/Berlin:20260309T120000\r
DTEND;TZID=Europe/Berlin:20260309T130000\r
SUMMARY:Standup moved\r
END:VEVENT\r
END:VCALENDAR\r
"""


async def _calendar_folder(phone) -> str:
    return (await phone.folders())["Calendar"][0]


async def _initial(phone, sid: str) -> str:
    return collection(await phone.sync(sid, "0")).findtext("AirSync:SyncKey")


async def _put(eas, text: str, name: str, user: str = ALICE):
    acc = eas.accounts[user]
    cal = await eas.store.get_collection_by_role(acc.id, "calendar")
    return await eas.store.put_item(acc.id, cal.id, name, text, index_text(text, "calendar"))


async def _only_item(eas, user: str = ALICE):
    acc = eas.accounts[user]
    cal = await eas.store.get_collection_by_role(acc.id, "calendar")
    items = await eas.store.list_items(acc.id, cal.id, with_text=True)
    return items


def _appointment(subject: str, start: str, end: str, *extra) -> E:
    return E("AirSync:ApplicationData",
             E("Calendar:TimeZone", timezone.of_tzinfo(BERLIN, 2026)),
             E("Calendar:StartTime", start), E("Calendar:EndTime", end),
             E("Calendar:Subject", subject), E("Calendar:BusyStatus", 2),
             E("Calendar:Sensitivity", 0), E("Calendar:AllDayEvent", 0), *extra)


@pytest.mark.parametrize("version", ["16.1", "14.1", "12.1"])
async def test_event_from_caldav_reaches_the_device_with_zone_recurrence_and_exceptions(
        eas, phone, version):
    phone.version = version
    await _put(eas, WEEKLY, "weekly-1.ics")
    sid = await _calendar_folder(phone)
    coll = collection(await phone.sync(sid, await _initial(phone, sid)))
    data = coll.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    assert data.findtext("Calendar:Subject") == "Standup"
    assert data.findtext("Calendar:UID") == "weekly-1"
    assert data.findtext("Calendar:StartTime") == "20260302T090000Z"   # 10:00 CET
    assert data.findtext("Calendar:EndTime") == "20260302T100000Z"
    assert timezone.unpack(data.findtext("Calendar:TimeZone")) == rules_of(BERLIN, 2026)
    rec = data.find("Calendar:Recurrence")
    assert rec.findtext("Calendar:Type") == "1"
    assert rec.findtext("Calendar:DayOfWeek") == str(2 | 8)        # Monday, Wednesday
    assert rec.findtext("Calendar:Until") == "20260601T000000Z"
    assert data.findtext("Calendar:Reminder") == "15"
    location = (data.findtext("AirSyncBase:Location/AirSyncBase:DisplayName")
                if version >= "16" else data.findtext("Calendar:Location"))
    assert location == "Room 1"
    assert data.findtext("AirSyncBase:Body/AirSyncBase:Data") == "Daily sync"
    exc = data.find("Calendar:Exceptions").findall("Calendar:Exception")
    start_tag = "AirSyncBase:InstanceId" if version >= "16" else "Calendar:ExceptionStartTime"
    deleted = next(e for e in exc if e.findtext("Calendar:Deleted") == "1")
    moved = next(e for e in exc if e.findtext("Calendar:Deleted") is None)
    assert deleted.findtext(start_tag) in ("20260304T090000Z", "2026-03-04T09:00:00.000Z")
    assert moved.findtext("Calendar:Subject") == "Standup moved"
    assert moved.findtext("Calendar:StartTime") == "20260309T110000Z"
    if version < "14":
        assert coll.findtext("AirSync:Class") == "Calendar"


@needs_libwbxml
async def test_calendar_sync_answer_reads_the_same_in_libwbxml(eas, phone):
    phone.version = "14.1"
    await _put(eas, WEEKLY, "weekly-1.ics")
    sid = await _calendar_folder(phone)
    a = await phone.sync(sid, await _initial(phone, sid))
    assert libwbxml_tree(a.body) == our_tree(a.element)


@pytest.mark.parametrize("version", ["16.1", "14.1", "12.1"])
async def test_appointment_added_on_the_device_is_served_by_caldav(eas, phone, version):
    phone.version = version
    sid = await _calendar_folder(phone)
    key = await _initial(phone, sid)
    data = _appointment("Gym", "20260303T170000Z", "20260303T180000Z",
                        E("Calendar:Reminder", 30),
                        E("Calendar:Recurrence", E("Calendar:Type", 3), E("Calendar:Interval", 1),
                          E("Calendar:WeekOfMonth", 5), E("Calendar:DayOfWeek", 4),
                          E("Calendar:Occurrences", 6)),
                        E("Calendar:UID", "gym-1") if version < "16" else
                        E("Calendar:ClientUid", "gym-1"))
    add = E("AirSync:Add", E("AirSync:ClientId", "c1"), data)
    request_body = E("AirSync:Sync", E("AirSync:Collections", E(
        "AirSync:Collection", E("AirSync:SyncKey", key), E("AirSync:CollectionId", sid),
        E("AirSync:Commands", add))))
    a = await phone.post("Sync", request_body)
    resp = collection(a).find("AirSync:Responses/AirSync:Add")
    assert resp.findtext("AirSync:Status") == "1", a.element.to_xml()
    server_id = resp.findtext("AirSync:ServerId")
    name = server_id.split(":", 1)[1]
    r = await request(eas, "GET", f"/dav/{ALICE}/calendar/{name}")
    assert r.status == 200
    ev = icalendar.Calendar.from_ical(r.text).walk("VEVENT")[0]
    assert str(ev["UID"]) == "gym-1" and str(ev["SUMMARY"]) == "Gym"
    assert ev["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert ev["DTSTART"].dt.replace(tzinfo=None).isoformat() == "2026-03-03T18:00:00"
    assert ev["RRULE"].to_ical() == b"FREQ=MONTHLY;COUNT=6;BYDAY=-1TU"
    assert ev.walk("VALARM")[0]["TRIGGER"].to_ical() == b"-PT30M"


async def test_all_day_event_round_trips_as_dates(eas, phone):
    sid = await _calendar_folder(phone)
    key = await _initial(phone, sid)
    data = E("AirSync:ApplicationData",
             E("Calendar:TimeZone", timezone.of_tzinfo(BERLIN, 2026)),
             E("Calendar:AllDayEvent", 1), E("Calendar:StartTime", "20260409T220000Z"),
             E("Calendar:EndTime", "20260411T220000Z"), E("Calendar:Subject", "Holiday"),
             E("Calendar:BusyStatus", 3))
    a = await phone.sync(sid, key, commands=[E("AirSync:Add", E("AirSync:ClientId", "1"),
                                               data)])
    key = collection(a).findtext("AirSync:SyncKey")
    (item,) = await _only_item(eas)
    ev = icalendar.Calendar.from_ical(item.text).walk("VEVENT")[0]
    assert ev["DTSTART"].to_ical() == b"20260410" and ev["DTEND"].to_ical() == b"20260412"
    assert str(ev["X-MICROSOFT-CDO-BUSYSTATUS"]) == "OOF"
    # A second device sees it as an all-day event from midnight in the same zone.
    phone.device_id = "SECONDPHONE"
    await phone.provision()
    sid = await _calendar_folder(phone)
    coll = collection(await phone.sync(sid, await _initial(phone, sid)))
    got = coll.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    assert got.findtext("Calendar:AllDayEvent") == "1"
    assert got.findtext("Calendar:BusyStatus") == "3"


async def test_change_on_the_device_keeps_what_it_cannot_show(eas, phone):
    await _put(eas, WEEKLY, "weekly-1.ics")
    sid = await _calendar_folder(phone)
    coll = collection(await phone.sync(sid, await _initial(phone, sid)))
    data = coll.find("AirSync:Commands/AirSync:Add/AirSync:ApplicationData")
    for el in data.children:
        if el.tag == "Calendar:Subject":
            el.text = "Standup (new room)"
    a = await phone.sync(sid, coll.findtext("AirSync:SyncKey"), commands=[
        E("AirSync:Change", E("AirSync:ServerId", f"{sid}:weekly-1.ics"), data)])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    (item,) = await _only_item(eas)
    cal = icalendar.Calendar.from_ical(item.text)
    master, moved = cal.walk("VEVENT")
    assert str(master["SUMMARY"]) == "Standup (new room)"
    assert str(master["X-KEEP-ME"]) == "yes"
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;UNTIL=20260601T000000Z;BYDAY=MO,WE"
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert str(moved["SUMMARY"]) == "Standup moved"
    assert len(master["EXDATE"].dts) == 1


async def test_meeting_made_on_the_device_invites_and_its_delete_cancels(eas, phone):
    sid = await _calendar_folder(phone)
    key = await _initial(phone, sid)
    data = _appointment("Planning", "20260305T090000Z", "20260305T100000Z",
                        E("Calendar:Attendees", E("Calendar:Attendee",
                                                  E("Calendar:Email", BOB),
                                                  E("Calendar:Name", "Bob"),
                                                  E("Calendar:AttendeeType", 1))),
                        E("Calendar:MeetingStatus", 1))
    a = await phone.sync(sid, key, commands=[E("AirSync:Add", E("AirSync:ClientId", "1"),
                                               data)])
    resp = collection(a).find("AirSync:Responses/AirSync:Add")
    assert resp.findtext("AirSync:Status") == "1"
    (bobs,) = await _only_item(eas, BOB)
    ev = icalendar.Calendar.from_ical(bobs.text).walk("VEVENT")[0]
    assert str(ev["ORGANIZER"]).lower() == f"mailto:{ALICE}"
    assert str(ev["SUMMARY"]) == "Planning"
    key = collection(a).findtext("AirSync:SyncKey")
    a = await phone.sync(sid, key, commands=[
        E("AirSync:Delete", E("AirSync:ServerId", resp.findtext("AirSync:ServerId")))])
    assert await _only_item(eas) == []
    (bobs,) = await _only_item(eas, BOB)
    assert "STATUS:CANCELLED" in bobs.text


async def test_garbage_from_the_device_gets_status_6_and_changes_nothing(eas, phone):
    sid = await _calendar_folder(phone)
    key = await _initial(phone, sid)
    bad = E("AirSync:ApplicationData", E("Calendar:Subject", "x"),
            E("Calendar:TimeZone", base64.b64encode(b"short").decode()),
            E("Calendar:StartTime", "not a date"))
    a = await phone.sync(sid, key, commands=[E("AirSync:Add", E("AirSync:ClientId", "1"), bad)])
    assert collection(a).findtext("AirSync:Responses/AirSync:Add/AirSync:Status") == "6"
    assert await _only_item(eas) == []


def test_time_zone_blob_is_172_bytes_and_reads_back():
    for name in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"):
        rules = rules_of(zoneinfo.ZoneInfo(name), 2026)
        blob = timezone.pack(rules)
        assert len(base64.b64decode(blob)) == 172
        assert timezone.unpack(blob) == rules
        tz, vtz = timezone.to_tzinfo(blob, 2026)
        assert rules_of(tz, 2026).key == rules.key and vtz is None


def test_zone_no_iana_name_fits_becomes_a_vtimezone():
    import dataclasses
    rules = rules_of(BERLIN, 2026)
    odd = dataclasses.replace(rules, std_name="Odd Time",
                              to_std=dataclasses.replace(rules.to_std, week=2))
    tz, vtz = timezone.to_tzinfo(timezone.pack(odd), 2026)
    assert vtz is not None and str(vtz["TZID"]) == "Odd Time"
    assert rules_of(tz, 2026).key == odd.key


@needs_libwbxml
def test_calendar_request_we_build_reads_the_same_in_libwbxml():
    data = _appointment("Gym", "20260303T170000Z", "20260303T180000Z",
                        E("Calendar:Recurrence", E("Calendar:Type", 1),
                          E("Calendar:DayOfWeek", 62)),
                        E("Calendar:Exceptions", E("Calendar:Exception",
                                                   E("Calendar:Deleted", 1),
                                                   E("Calendar:ExceptionStartTime",
                                                     "20260305T170000Z"))))
    root = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
             E("AirSync:SyncKey", "1"), E("AirSync:CollectionId", "c1"),
             E("AirSync:Commands", E("AirSync:Add", E("AirSync:ClientId", "1"), data)))))
    assert libwbxml_tree(encode(root)) == our_tree(root)
