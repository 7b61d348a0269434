"""16.x Sync of calendars, contacts and mail (MS-ASCMD §2.2.3.7.2 ghosting, §2.2.3.35 Conflict,
MS-ASCAL instances through a top-level InstanceId): what a device does not send stays, one
occurrence of a series is changed or cancelled alone, and the Conflict option decides who wins."""

from __future__ import annotations

import icalendar

from postroom.eas.wbxml import E
from postroom.store.api import SEEN

from ..conftest import make_message
from .client import collection
from .test_calendar import WEEKLY, _calendar_folder, _initial, _only_item, _put
from .test_contacts_tasks import CARD, _folder
from .test_contacts_tasks import _put as _put_item

ALICE = "alice@example.test"


async def _held_calendar(eas, phone, text: str = WEEKLY, name: str = "weekly-1.ics"
                        ) -> tuple[str, str]:
    await _put(eas, text, name)
    sid = await _calendar_folder(phone)
    coll = collection(await phone.sync(sid, await _initial(phone, sid)))
    return sid, coll.findtext("AirSync:SyncKey")


async def test_16_change_of_one_calendar_property_keeps_the_others(eas, phone):
    sid, key = await _held_calendar(eas, phone)
    a = await phone.sync(sid, key, commands=[E("AirSync:Change",
                         E("AirSync:ServerId", f"{sid}:weekly-1.ics"),
                         E("AirSync:ApplicationData", E("Calendar:Subject", "Standup (v2)")))])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    (item,) = await _only_item(eas)
    master, moved = icalendar.Calendar.from_ical(item.text).walk("VEVENT")
    assert str(master["SUMMARY"]) == "Standup (v2)"
    assert str(master["LOCATION"]) == "Room 1" and str(master["DESCRIPTION"]) == "Daily sync"
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert "RRULE" in master and master.walk("VALARM")
    assert str(moved["SUMMARY"]) == "Standup moved"


async def test_16_change_of_one_contact_property_keeps_the_others(eas, phone):
    acc, col = await _put_item(eas, "contacts", "ann-1.vcf", CARD)
    sid, key = await _folder(phone, "Contacts")
    key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    a = await phone.sync(sid, key, commands=[E("AirSync:Change",
                         E("AirSync:ServerId", f"{sid}:ann-1.vcf"),
                         E("AirSync:ApplicationData", E("Contacts:JobTitle", "CEO")))])
    assert collection(a).find("AirSync:Responses") is None, a.element.to_xml()
    text = (await eas.store.get_item(acc.id, col.id, "ann-1.vcf")).text
    assert "TITLE:CEO" in text and "Head of Sales" not in text
    for kept in ("TEL;TYPE=CELL:+49 170 1", "ann@example.org", "NOTE:Met at the fair",
                 "PHOTO", "CATEGORIES:Work,VIP", "BDAY:1980-05-04"):
        assert kept in text, kept


def _exdates(master) -> list[str]:
    lists = master["EXDATE"] if isinstance(master["EXDATE"], list) else [master["EXDATE"]]
    return sorted(d.dt.isoformat() for x in lists for d in x.dts)


def _components(text: str) -> tuple:
    cal = icalendar.Calendar.from_ical(text)
    events = cal.walk("VEVENT")
    master = next(e for e in events if e.get("RECURRENCE-ID") is None)
    overrides = {e["RECURRENCE-ID"].dt.isoformat(): e for e in events
                 if e.get("RECURRENCE-ID") is not None}
    return master, overrides


async def test_16_change_and_delete_of_one_instance_make_an_override_and_an_exdate(eas, phone):
    sid, key = await _held_calendar(eas, phone)
    server_id = f"{sid}:weekly-1.ics"
    coll = collection(await phone.sync(sid, key, commands=[
        # Wednesday 11 March, 10:00 Berlin: a new override with a new subject only.
        E("AirSync:Change", E("AirSync:ServerId", server_id),
          E("AirSyncBase:InstanceId", "2026-03-11T09:00:00.000Z"),
          E("AirSync:ApplicationData", E("Calendar:Subject", "Standup (special)"))),
        # Monday 9 March was already moved to 12:00: only its location changes now.
        E("AirSync:Change", E("AirSync:ServerId", server_id),
          E("AirSyncBase:InstanceId", "2026-03-09T09:00:00.000Z"),
          E("AirSync:ApplicationData", E("AirSyncBase:Location",
                                         E("AirSyncBase:DisplayName", "Room 9")))),
        # Monday 16 March is cancelled alone.
        E("AirSync:Delete", E("AirSync:ServerId", server_id),
          E("AirSyncBase:InstanceId", "2026-03-16T09:00:00.000Z"))]))
    assert coll.find("AirSync:Responses") is None, coll.to_xml()
    (item,) = await _only_item(eas)
    master, overrides = _components(item.text)
    assert str(master["SUMMARY"]) == "Standup" and "RRULE" in master
    assert _exdates(master) == ["2026-03-04T10:00:00+01:00", "2026-03-16T10:00:00+01:00"]
    special = overrides["2026-03-11T10:00:00+01:00"]
    assert str(special["SUMMARY"]) == "Standup (special)"
    assert special["DTSTART"].dt.isoformat() == "2026-03-11T10:00:00+01:00"
    assert str(special["LOCATION"]) == "Room 1"          # inherited from the series
    moved = overrides["2026-03-09T10:00:00+01:00"]
    assert str(moved["SUMMARY"]) == "Standup moved" and str(moved["LOCATION"]) == "Room 9"
    assert moved["DTSTART"].dt.isoformat() == "2026-03-09T12:00:00+01:00"
    # The series stays on the phone, and its own changes are not sent back to it.
    coll = collection(await phone.sync(sid, coll.findtext("AirSync:SyncKey")))
    assert coll.find("AirSync:Commands") is None


async def test_instance_change_of_a_meeting_reaches_the_attendee(eas, phone):
    meeting = WEEKLY.replace("SUMMARY:Standup\r\n", "SUMMARY:Standup\r\n"
                             "ORGANIZER:mailto:alice@example.test\r\n"
                             "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.test\r\n")
    sid, key = await _held_calendar(eas, phone, meeting)
    coll = collection(await phone.sync(sid, key, commands=[
        E("AirSync:Delete", E("AirSync:ServerId", f"{sid}:weekly-1.ics"),
          E("AirSyncBase:InstanceId", "2026-03-16T09:00:00.000Z"))]))
    assert coll.find("AirSync:Responses") is None, coll.to_xml()
    (bobs,) = await _only_item(eas, "bob@example.test")
    master, _ = _components(bobs.text)
    assert "2026-03-16T10:00:00+01:00" in _exdates(master)


async def test_instance_id_on_a_single_event_or_not_a_date_gets_status_6(eas, phone):
    single = WEEKLY.replace("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20260601T000000Z\r\n", "")
    single = single.split("BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
                          "RECURRENCE-ID")[0] + "END:VCALENDAR\r\n"
    sid, key = await _held_calendar(eas, phone, single, "single.ics")
    coll = collection(await phone.sync(sid, key, commands=[
        E("AirSync:Change", E("AirSync:ServerId", f"{sid}:single.ics"),
          E("AirSyncBase:InstanceId", "2026-03-02T09:00:00.000Z"),
          E("AirSync:ApplicationData", E("Calendar:Subject", "x"))),
        E("AirSync:Delete", E("AirSync:ServerId", f"{sid}:single.ics"),
          E("AirSyncBase:InstanceId", "not a date"))]))
    statuses = [r.findtext("AirSync:Status") for r in coll.find("AirSync:Responses").children]
    assert statuses == ["6", "6"]
    (item,) = await _only_item(eas)
    assert "SUMMARY:Standup" in item.text


async def _read_elsewhere_then_unread_on_the_phone(eas, phone, conflict: int | None):
    acc = eas.accounts[ALICE]
    inbox = await eas.store.get_mailbox(acc.id, "INBOX")
    await eas.store.append(acc.id, inbox.id, make_message())
    sid = f"m{inbox.id}"
    await phone.folders()
    options = [E("AirSync:Conflict", conflict)] if conflict is not None else None
    key = collection(await phone.sync(sid, "0", options=options)).findtext("AirSync:SyncKey")
    key = collection(await phone.sync(sid, key)).findtext("AirSync:SyncKey")
    await eas.store.store_flags(acc.id, inbox.id, [1], "add", [SEEN])   # IMAP reads it
    coll = collection(await phone.sync(sid, key, commands=[E("AirSync:Change",
                      E("AirSync:ServerId", f"{sid}:1"),
                      E("AirSync:ApplicationData", E("Email:Read", 0)))]))
    (entry,) = await eas.store.entries(acc.id, inbox.id, [1])
    return coll, SEEN in entry.flags


async def test_conflict_server_wins_by_default_with_status_7_and_the_servers_version(eas, phone):
    coll, seen = await _read_elsewhere_then_unread_on_the_phone(eas, phone, None)
    assert seen
    assert coll.findtext("AirSync:Responses/AirSync:Change/AirSync:Status") == "7"
    assert coll.findtext("AirSync:Commands/AirSync:Change/AirSync:ApplicationData/Email:Read") \
        == "1"


async def test_conflict_client_wins_when_the_device_asks(eas, phone):
    coll, seen = await _read_elsewhere_then_unread_on_the_phone(eas, phone, 0)
    assert not seen
    assert coll.find("AirSync:Responses") is None and coll.find("AirSync:Commands") is None
